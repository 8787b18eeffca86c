//! `mailsim report DIR`: one self-contained HTML page about a sweep — totals,
//! every failure with its repro line, and an SVG timeline per failure (the
//! fault schedule per region, message latencies from the saved trace), and
//! for an `explore` run its coverage over time (`coverage_figure`). No
//! scripts, fonts or images from anywhere else: it opens from a CI artifact.

pub mod coverage_figure;
pub mod html;
pub mod timeline;

use std::path::Path;

use crate::scenario::Scenario;
use crate::sweep::layout::Layout;
use crate::sweep::record::SeedRecord;
use crate::sweep::summary::Summary;

/// Timelines drawn; later failures are listed without one, to keep a page
/// about a disastrous night small enough to open.
pub const TIMELINES_MAX: usize = 100;

/// The page for the sweep in `dir`.
pub fn render(dir: &Path) -> Result<String, String> {
    let layout = Layout::new(dir);
    let summary = Summary::load(&layout.summary())?;
    let mut timelines = Vec::new();
    for record in summary.failures().take(TIMELINES_MAX) {
        timelines.push((record.seed, timeline_for(&layout, record)));
    }
    let coverage =
        crate::explore::history::History::load(dir)?.map(|h| coverage_figure::section(&h));
    Ok(html::page(&summary, coverage.as_deref(), &timelines))
}

/// The timeline SVG of one failure, or why there is none.
fn timeline_for(layout: &Layout, record: &SeedRecord) -> Result<String, String> {
    let file = record
        .failure_file
        .as_ref()
        .ok_or("no failure file was saved for this seed")?;
    let failure = traces::FailureFile::load(&layout.root.join(file))?;
    let scenario: Scenario = serde_json::from_value(failure.scenario)
        .map_err(|e| format!("{file}: its scenario does not read: {e}"))?;
    let log = match &record.trace_file {
        Some(trace) => {
            let path = layout.root.join(trace);
            let reader = std::fs::File::open(&path)
                .map(std::io::BufReader::new)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some(
                traces::Log::read_jsonl(reader)
                    .map_err(|e| format!("{}: {e:?}", path.display()))?,
            )
        }
        None => None,
    };
    let reasons: Vec<String> = record.violations.iter().map(|v| v.reason.clone()).collect();
    Ok(timeline::Timeline::build(&scenario, log.as_ref(), &reasons).svg())
}
