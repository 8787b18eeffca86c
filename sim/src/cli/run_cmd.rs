//! `mailsim run`: one seed, judged. Prints the seed first, then the knobs and
//! the summary; the last line is `digest: <hex>` and the verdict. A failure
//! prints the failure report and then the command that reproduces it just
//! before that line.

use crate::cli::{RunArgs, outputs};
use crate::exit_code::EXIT_BAD_INPUT;
use crate::failure_file::failure_file;
use crate::report_text::failure_report;
use crate::run::{self, Verdict};

pub fn run(args: &RunArgs) -> i32 {
    if let Err(e) = args.source.engine.check_available() {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
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
    let outcome = run::run_on(args.source.engine, &scenario, args.source.seed);
    let repro = format!("mailsim run {}", args.source.repro_flags());
    let failed = outcome.verdict != Verdict::Pass;
    let mut written = Vec::new();
    if let Some(path) = &args.trace {
        if let Err(e) = outputs::write_trace(&outcome.log, path) {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
        written.push(format!("trace: {}", path.display()));
    }
    if let Some(path) = &args.chrome {
        let regions = outputs::host_regions(&scenario);
        if let Err(e) = outputs::write_chrome(&outcome.log, &regions, path) {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
        written.push(format!(
            "chrome trace: {} (open in ui.perfetto.dev)",
            path.display()
        ));
    }
    if let Some(path) = &args.save_failure {
        if failed {
            let file = failure_file(&outcome, &scenario, &repro);
            if let Err(e) = outputs::write_failure(&file, path) {
                eprintln!("error: {e}");
                return EXIT_BAD_INPUT;
            }
            written.push(format!(
                "failure file: {} (rerun with: mailsim replay {})",
                path.display(),
                crate::shell::shell_word(&path.display().to_string())
            ));
        } else {
            eprintln!(
                "note: the run passed; no failure file written to {}",
                path.display()
            );
        }
    }
    if args.json {
        let mut value = serde_json::to_value(&outcome).expect("outcome serializes");
        value["violations"] = serde_json::to_value(&outcome.report.violations).expect("serializes");
        if failed {
            value["repro"] = serde_json::Value::String(repro);
        }
        println!("{value}");
    } else {
        let summary = outcome.summary();
        let (body, last) = summary.rsplit_once('\n').unwrap_or(("", &summary));
        println!("{body}");
        if failed {
            print!("{}", failure_report(&outcome, &scenario, &repro));
        }
        for line in &written {
            println!("{line}");
        }
        if failed {
            println!("{repro}");
        }
        println!("{last}");
    }
    outcome.verdict.exit_code()
}
