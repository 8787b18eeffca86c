//! Reading trace files people hand us (JSONL observation logs): every error
//! names the file and the 1-based line, and says what is wrong in words — a
//! truncated file, something that is not a mailsim trace at all, or a trace
//! written by a newer build with a schema this one cannot read.
//!
//! A complete trace starts with `run_started` (which carries the schema
//! version) and ends with `phase` `done`; both are checked, so a file cut at
//! a line boundary is caught too.

use std::path::Path;

use crate::event::{Event, EventKind, SCHEMA_VERSION};
use crate::log::Log;

/// Reads and checks the trace at `path`.
pub fn load_trace(path: &Path) -> Result<Log, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse_trace(&text, path)
}

/// Parses and checks a trace's text; `path` only names it in errors.
pub fn parse_trace(text: &str, path: &Path) -> Result<Log, String> {
    let name = path.display();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !line.trim().is_empty());
    let Some((first_number, first)) = lines.next() else {
        return Err(format!("{name}: empty, not a mailsim trace"));
    };
    check_header(first, first_number, path)?;
    let mut log = Log::new();
    let mut last_t_us = 0;
    let mut last_line = first_number;
    for (number, line) in std::iter::once((first_number, first)).chain(lines) {
        let event: Event = serde_json::from_str(line).map_err(|e| {
            let hint = if e.is_eof() {
                " (the line is cut short: truncated file?)"
            } else {
                ""
            };
            format!("{name}:{number}: bad trace event: {e}{hint}")
        })?;
        if event.t_us < last_t_us {
            return Err(format!(
                "{name}:{number}: time goes backwards ({} us after {last_t_us} us): not one run's trace",
                event.t_us
            ));
        }
        last_t_us = event.t_us;
        last_line = number;
        log.push(event.t_us, &event.host, event.kind);
    }
    let finished = matches!(
        log.events().last().map(|e| &e.kind),
        Some(EventKind::Phase { phase }) if phase == "done"
    );
    if !finished {
        return Err(format!(
            "{name}:{last_line}: the trace ends without its final `phase done` event: truncated file?"
        ));
    }
    Ok(log)
}

/// The first line must be `run_started` with a schema this build reads.
fn check_header(line: &str, number: usize, path: &Path) -> Result<(), String> {
    let name = path.display();
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| format!("{name}:{number}: not a mailsim trace (the line is not JSON: {e})"))?;
    if value.get("ev").and_then(|v| v.as_str()) != Some("run_started") {
        return Err(format!(
            "{name}:{number}: not a mailsim trace (it must start with a `run_started` event)"
        ));
    }
    match value.get("schema").and_then(|v| v.as_u64()) {
        Some(schema) if schema == u64::from(SCHEMA_VERSION) => Ok(()),
        Some(schema) if schema > u64::from(SCHEMA_VERSION) => Err(format!(
            "{name}:{number}: trace schema {schema} is newer than this build reads ({SCHEMA_VERSION}); use a newer mailsim"
        )),
        Some(schema) => Err(format!(
            "{name}:{number}: trace schema {schema} is not supported (this build reads {SCHEMA_VERSION})"
        )),
        None => Err(format!(
            "{name}:{number}: not a mailsim trace (`run_started` has no schema)"
        )),
    }
}

/// Whether `text` looks like a trace (its first line is an event), to tell
/// someone who passed a trace where another file was wanted.
pub fn looks_like_trace(text: &str) -> bool {
    let Some(first) = text.lines().find(|l| !l.trim().is_empty()) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(first)
        .is_ok_and(|v| v.get("ev").is_some() && v.get("t_us").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_text() -> String {
        let mut log = Log::new();
        log.push(
            0,
            "world",
            EventKind::RunStarted {
                seed: 1,
                schema: SCHEMA_VERSION,
                scenario_sha256: "ab".into(),
            },
        );
        log.push(
            5,
            "world",
            EventKind::Phase {
                phase: "done".into(),
            },
        );
        let mut bytes = Vec::new();
        log.write_jsonl(&mut bytes).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn error(text: &str) -> String {
        parse_trace(text, Path::new("run.jsonl")).unwrap_err()
    }

    #[test]
    fn a_whole_trace_reads() {
        let log = parse_trace(&trace_text(), Path::new("run.jsonl")).unwrap();
        assert_eq!(log.len(), 2);
        assert!(looks_like_trace(&trace_text()));
    }

    #[test]
    fn a_line_cut_short_names_the_file_and_line() {
        let text = trace_text();
        let cut = &text[..text.len() - 10];
        let message = error(cut);
        assert!(message.starts_with("run.jsonl:2: "), "{message}");
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn a_trace_cut_at_a_line_boundary_is_caught() {
        let text = trace_text();
        let first_line = text.lines().next().unwrap();
        let message = error(first_line);
        assert!(message.starts_with("run.jsonl:1: "), "{message}");
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn a_newer_schema_is_refused_with_advice() {
        let text =
            trace_text().replacen(&format!("\"schema\":{SCHEMA_VERSION}"), "\"schema\":99", 1);
        let message = error(&text);
        assert!(message.contains("newer"), "{message}");
        assert!(message.starts_with("run.jsonl:1: "), "{message}");
    }

    #[test]
    fn foreign_files_are_not_traces() {
        assert!(error("").contains("empty"));
        assert!(error("hello world\n").contains("not a mailsim trace"));
        assert!(error("{\"name\": \"package\"}\n").contains("not a mailsim trace"));
        assert!(!looks_like_trace("{\"version\": 1}"));
    }

    #[test]
    fn an_unknown_event_after_the_header_names_its_line() {
        let mut text = trace_text();
        text.insert_str(
            text.find('\n').unwrap() + 1,
            "{\"t_us\":1,\"host\":\"world\",\"ev\":\"teleported\"}\n",
        );
        let message = error(&text);
        assert!(message.starts_with("run.jsonl:2: "), "{message}");
    }
}
