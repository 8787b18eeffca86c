//! `mailsim merge DIR... --out DIR`: combines the output directories of a
//! sharded sweep (see `sweep::merge`). Exit 0 when merged, whatever the
//! seeds' outcomes (the table and summary.json say); 2 when the inputs are
//! unreadable, of different sweeps, or overlap.

use std::path::PathBuf;

use crate::cli::sweep::command_line;
use crate::exit_code::EXIT_BAD_INPUT;
use crate::sweep::layout::write_atomic;
use crate::sweep::{junit, merge, table};

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' output directories.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged sweep.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write the JUnit XML here (it is always written to OUT/junit.xml).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

pub fn run(args: &MergeArgs) -> i32 {
    let merged = match merge::merge(&args.dirs, &args.out, command_line()) {
        Ok(merged) => merged,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let xml = match junit::render(&merged.summary) {
        Ok(xml) => xml,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut targets = vec![args.out.join("junit.xml")];
    targets.extend(args.junit.clone());
    for path in &targets {
        if let Err(e) = write_atomic(path, xml.as_bytes()) {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    for warning in &merged.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "merged {} directories ({} seeds) into {}",
        args.dirs.len(),
        merged.summary.totals.selected,
        args.out.display()
    );
    println!("{}", table::render(&merged.summary));
    0
}
