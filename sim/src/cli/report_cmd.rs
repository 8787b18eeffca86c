//! `mailsim report DIR [--out FILE]`: the sweep in DIR as one
//! self-contained HTML page (default `DIR/report.html`). Exit 0 when
//! written, 2 when DIR holds no readable sweep or the page cannot be written.

use std::path::PathBuf;

use crate::exit_code::EXIT_BAD_INPUT;
use crate::sweep::layout::write_atomic;
use crate::sweep::report;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A sweep's (or a merge's) output directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Where to write the page [default: DIR/report.html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &ReportArgs) -> i32 {
    let page = match report::render(&args.dir) {
        Ok(page) => page,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| args.dir.join("report.html"));
    if let Err(e) = write_atomic(&path, page.as_bytes()) {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    println!("wrote {}", path.display());
    0
}
