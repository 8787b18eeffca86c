//! Failure files: everything needed to rerun a failed run and to tell
//! whether it still fails the same way — the scenario, the seed, the engine,
//! the build, and the expected outcome and digest. Written by `mailsim run`,
//! sweeps and the proptest suites; read by `mailsim replay` and `cargo test`
//! (the corpus under `traces/corpus/`).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Bump on any change an older reader would misread.
pub const FAILURE_FILE_VERSION: u32 = 1;

/// What the run ended with, to compare a replay against.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// `pass`, `safety_violation`, `liveness_violation` or `livelock`.
    pub verdict: String,
    /// Names of the violated properties, sorted, deduplicated.
    pub violated: Vec<String>,
    /// Digest of the observation log.
    pub digest: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FailureFile {
    pub version: u32,
    pub seed: u64,
    /// `turmoil` (later also `madsim`).
    pub engine: String,
    /// Which build wrote it (crate version and log schema).
    pub build_id: String,
    /// The scenario, as the simulator's JSON (validated by whoever runs it).
    pub scenario: serde_json::Value,
    pub expected: Expected,
    /// The command line that reproduces it.
    pub repro: String,
}

/// The build id this binary writes.
pub fn build_id() -> String {
    format!(
        "mailsim {} schema {}",
        env!("CARGO_PKG_VERSION"),
        crate::event::SCHEMA_VERSION
    )
}

impl FailureFile {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("failure files serialize")
    }

    /// Parses a failure file; the error names the file, and the line and
    /// column where reading stopped.
    pub fn parse(text: &str, path: &Path) -> Result<FailureFile, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            format!(
                "{}:{}:{}: not a failure file: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        // A scenario has a version too, and a topology where a failure file
        // has its expected outcome: say which file this is, not that its
        // version is wrong.
        if value.get("expected").is_none() && value.get("topology").is_some() {
            return Err(format!(
                "{}: not a failure file: this is a scenario; run it with \
                 `mailsim run --seed N --scenario {}`",
                path.display(),
                path.display()
            ));
        }
        let version = value.get("version").and_then(|v| v.as_u64());
        match version {
            Some(v) if v == u64::from(FAILURE_FILE_VERSION) => {}
            Some(v) if v > u64::from(FAILURE_FILE_VERSION) => {
                return Err(format!(
                    "{}: failure file version {v} is newer than this build reads ({FAILURE_FILE_VERSION}); use a newer mailsim",
                    path.display()
                ));
            }
            Some(v) => {
                return Err(format!(
                    "{}: failure file version {v} is not supported (this build reads {FAILURE_FILE_VERSION})",
                    path.display()
                ));
            }
            None => {
                return Err(format!(
                    "{}: not a failure file (no \"version\" field)",
                    path.display()
                ));
            }
        }
        serde_json::from_str(text).map_err(|e| {
            format!(
                "{}:{}:{}: bad failure file: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })
    }

    pub fn load(path: &Path) -> Result<FailureFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Writes atomically (temporary file, then rename), so a killed writer
    /// never leaves half a file behind.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let temp = path.with_extension("json.tmp");
        std::fs::write(&temp, self.to_json() + "\n")?;
        std::fs::rename(&temp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FailureFile {
        FailureFile {
            version: FAILURE_FILE_VERSION,
            seed: 7,
            engine: "turmoil".into(),
            build_id: build_id(),
            scenario: serde_json::json!({"version": 1}),
            expected: Expected {
                verdict: "safety_violation".into(),
                violated: vec!["no_acked_loss".into()],
                digest: "ab".repeat(32),
            },
            repro: "mailsim run --seed 7".into(),
        }
    }

    #[test]
    fn a_failure_file_round_trips() {
        let file = sample();
        let back = FailureFile::parse(&file.to_json(), Path::new("f.json")).unwrap();
        assert_eq!(back, file);
    }

    #[test]
    fn a_truncated_file_is_reported_with_its_name_and_line() {
        let text = file_prefix();
        let error = FailureFile::parse(&text, Path::new("cut.json")).unwrap_err();
        assert!(error.starts_with("cut.json:"), "{error}");
    }

    fn file_prefix() -> String {
        let text = sample().to_json();
        text[..text.len() / 2].to_string()
    }

    #[test]
    fn a_newer_version_is_refused_with_advice() {
        let text = sample()
            .to_json()
            .replacen("\"version\": 1", "\"version\": 99", 1);
        let error = FailureFile::parse(&text, Path::new("new.json")).unwrap_err();
        assert!(error.contains("newer"), "{error}");
    }

    #[test]
    fn a_scenario_passed_for_a_failure_file_is_named_as_one() {
        let text = r#"{"version": 3, "seed": 1, "topology": {}, "tenants": []}"#;
        let error = FailureFile::parse(text, Path::new("s.json")).unwrap_err();
        assert!(error.contains("this is a scenario"), "{error}");
        assert!(
            error.contains("mailsim run --seed N --scenario s.json"),
            "{error}"
        );
    }

    #[test]
    fn a_foreign_json_file_is_refused() {
        let error =
            FailureFile::parse("{\"name\": \"package\"}", Path::new("package.json")).unwrap_err();
        assert!(error.contains("not a failure file"), "{error}");
    }
}
