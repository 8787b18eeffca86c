//! `mailsim`: parse the command line, run the command, exit with its code.
//! Bad input never panics: clap's own errors and ours both exit 2.

use clap::Parser;

fn main() {
    sim::logging::init();
    let cli = match sim::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                sim::cli::EXIT_BAD_INPUT
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    std::process::exit(sim::cli::dispatch(cli));
}
