//! Files a run can leave behind for people: the observation log (JSONL), its
//! Chrome trace (for Perfetto), and a failure file. Shared by `run` and
//! `replay`, so both write exactly the same formats.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use traces::{FailureFile, Log};

use crate::scenario::Scenario;

/// Host → region for every gateway-side host of the scenario's topology.
pub fn host_regions(scenario: &Scenario) -> BTreeMap<String, String> {
    let topology = &scenario.topology;
    let mut map = BTreeMap::new();
    for region in &topology.regions {
        for host in topology.hosts_in_region(region) {
            map.insert(host, region.name.clone());
        }
    }
    map
}

/// Writes `bytes` through a buffered file; the error names the file.
fn write_file(
    path: &Path,
    what: &str,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), String> {
    let written = std::fs::File::create(path).and_then(|file| {
        let mut out = std::io::BufWriter::new(file);
        fill(&mut out)?;
        out.flush()
    });
    written.map_err(|e| format!("cannot write {what} {}: {e}", path.display()))
}

/// The observation log as JSONL.
pub fn write_trace(log: &Log, path: &Path) -> Result<(), String> {
    write_file(path, "trace", |out| log.write_jsonl(out))
}

/// The log as Chrome trace-event JSON.
pub fn write_chrome(
    log: &Log,
    regions: &BTreeMap<String, String>,
    path: &Path,
) -> Result<(), String> {
    let trace = traces::chrome::chrome_trace(log, regions);
    write_file(path, "Chrome trace", |out| {
        serde_json::to_writer(&mut *out, &trace).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })
}

/// A failure file, written atomically.
pub fn write_failure(file: &FailureFile, path: &Path) -> Result<(), String> {
    file.save(path)
        .map_err(|e| format!("cannot write failure file {}: {e}", path.display()))
}
