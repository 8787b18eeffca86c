//! `mailsim run`: one seed, judged. Prints the seed first, then the knobs and
//! the summary; the last line is `digest: <hex>` and the verdict. A failure
//! prints the command that reproduces it just before that line.

use std::io::Write;

use crate::cli::{EXIT_BAD_INPUT, RunArgs};
use crate::run::{self, Verdict};

pub fn run(args: &RunArgs) -> i32 {
    let scenario = match args.source.load() {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if !args.json {
        println!("seed: {}", args.source.seed);
        println!("{scenario}");
    }
    let outcome = run::run(&scenario, args.source.seed);
    if let Some(path) = &args.trace {
        let written = std::fs::File::create(path).and_then(|file| {
            let mut out = std::io::BufWriter::new(file);
            outcome.log.write_jsonl(&mut out)?;
            out.flush()
        });
        if let Err(e) = written {
            eprintln!("error: cannot write trace {}: {e}", path.display());
            return EXIT_BAD_INPUT;
        }
    }
    let repro = format!("mailsim run {}", args.source.repro_flags());
    if args.json {
        let mut value = serde_json::to_value(&outcome).expect("outcome serializes");
        value["violations"] = serde_json::to_value(&outcome.report.violations).expect("serializes");
        if outcome.verdict != Verdict::Pass {
            value["repro"] = serde_json::Value::String(repro);
        }
        println!("{value}");
    } else {
        let summary = outcome.summary();
        let (body, last) = summary.rsplit_once('\n').unwrap_or(("", &summary));
        println!("{body}");
        if let Some(path) = &args.trace {
            println!("trace: {}", path.display());
        }
        if outcome.verdict != Verdict::Pass {
            println!("{repro}");
        }
        println!("{last}");
    }
    outcome.verdict.exit_code()
}
