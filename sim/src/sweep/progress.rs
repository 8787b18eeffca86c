//! Progress while a sweep runs, on stderr: an indicatif bar (seeds/s,
//! failures so far, ETA) on a terminal; plain periodic lines otherwise, so CI
//! logs show progress without control codes. Each failure is announced as it
//! happens, with its repro line, in both modes.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::sweep::clock;
use crate::sweep::duration::human;
use crate::sweep::record::SeedRecord;

/// How often a plain line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    started: Instant,
    state: Mutex<State>,
}

struct State {
    done: u64,
    failed: u64,
    last_line: Instant,
}

impl Progress {
    /// Progress over `total` seeds; a bar only if stderr is a terminal.
    pub fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} seeds  {msg}  eta {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message("0 failed");
            // indicatif's own {per_sec} prints rates below 1/s with four decimals.
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        let started = clock::now();
        Progress {
            bar,
            total,
            started,
            state: Mutex::new(State {
                done: 0,
                failed: 0,
                last_line: started,
            }),
        }
    }

    /// Prints a line without tearing the bar.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// One seed finished.
    pub fn seed_done(&self, record: &SeedRecord) {
        let mut state = self.state.lock().expect("progress is never poisoned");
        state.done += 1;
        if record.outcome.is_failure() {
            state.failed += 1;
            self.note(&format!("FAILED {}\n  {}", record.headline(), record.repro));
        }
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(format!(
                    "{:.2} seeds/s  {} failed",
                    self.rate(&state),
                    state.failed
                ));
            }
            None => {
                let now = clock::now();
                if now.duration_since(state.last_line) >= PLAIN_EVERY {
                    state.last_line = now;
                    eprintln!("{}", self.line(&state));
                }
            }
        }
    }

    fn rate(&self, state: &State) -> f64 {
        state.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    fn line(&self, state: &State) -> String {
        let elapsed = self.started.elapsed();
        let rate = self.rate(state);
        format!(
            "progress: {}/{} seeds, {} failed, {:.2} seeds/s, {} elapsed",
            state.done,
            self.total,
            state.failed,
            rate,
            human(elapsed)
        )
    }

    /// Clears the bar, or prints the last plain line.
    pub fn finish(&self) {
        let state = self.state.lock().expect("progress is never poisoned");
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => eprintln!("{}", self.line(&state)),
        }
    }
}
