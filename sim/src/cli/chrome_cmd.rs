//! `mailsim chrome TRACE --out FILE [--scenario FILE]`: convert a saved
//! observation log to Chrome trace-event JSON, for a trace that came from CI
//! without its run. A trace that is truncated, foreign or from a newer build
//! is refused with the file and line (exit 2).

use crate::cli::{ChromeArgs, outputs};
use crate::exit_code::EXIT_BAD_INPUT;
use crate::scenario::Scenario;

pub fn run(args: &ChromeArgs) -> i32 {
    let log = match traces::read::load_trace(&args.trace) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let regions = match &args.scenario {
        Some(path) => {
            let scenario = std::fs::read_to_string(path)
                .map_err(|e| format!("{}: cannot read: {e}", path.display()))
                .and_then(|text| {
                    Scenario::from_json(&text)
                        .map_err(|e| format!("{}: bad scenario: {e}", path.display()))
                });
            match scenario {
                Ok(scenario) => outputs::host_regions(&scenario),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_BAD_INPUT;
                }
            }
        }
        None => traces::chrome::regions_from_log(&log),
    };
    if let Err(e) = outputs::write_chrome(&log, &regions, &args.out) {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    println!(
        "chrome trace: {} ({} events; open in ui.perfetto.dev)",
        args.out.display(),
        log.len()
    );
    0
}
