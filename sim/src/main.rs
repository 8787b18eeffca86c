//! `mailsim`: parse the command line, run the command, exit with its code.
//! Bad input never panics: clap's own errors and ours both exit 2.

use clap::Parser;

/// mimalloc instead of glibc's malloc: a simulated step allocates and frees
/// many small buffers (frames, SMTP lines, log events), and glibc's
/// malloc/free were the largest single cost in a madsim run's profile.
/// Allocation addresses decide nothing in a run, so digests are unchanged.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    sim::logging::init();
    let cli = match sim::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                sim::exit_code::EXIT_BAD_INPUT
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    std::process::exit(sim::cli::dispatch(cli));
}
