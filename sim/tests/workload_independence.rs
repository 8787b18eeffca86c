//! The world outside the gateway is an independent witness: nothing under
//! `sim/src/workload` may use the gateway's code (`models`) beyond the
//! `Env` seam it runs on (`models::env`); not even a constant such as a
//! port (`workload/ports.rs` takes them from the RFCs). A sender built on
//! the gateway's SMTP client,
//! or a mailbox reading DSNs with the gateway's parser, would share the
//! gateway's mistakes and hide them; this test fails the day one does.

use std::path::{Path, PathBuf};

/// The only `models` paths the workload may name.
const ALLOWED: &[&str] = &["models::env"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Every use of the `models` crate on a line that is code, not comment,
/// that is not one of the allowed paths.
fn forbidden_uses(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("models") {
            let before = rest[..at].chars().next_back();
            let tail = &rest[at..];
            rest = &rest[at + "models".len()..];
            // Part of a longer name (`my_models`, `models_x`)?
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                || tail["models".len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            if !ALLOWED.iter().any(|ok| {
                tail.starts_with(ok)
                    && !tail[ok.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
            }) {
                found.push(format!("line {}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_workload_uses_nothing_of_the_gateway_but_the_seam_and_configuration() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/workload");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() >= 5, "found only {files:?}");
    let mut bad = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("readable source");
        for hit in forbidden_uses(&source) {
            bad.push(format!("{}: {hit}", file.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "sim/src/workload uses the gateway's code:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_every_way_of_naming_the_gateway() {
    for bad in [
        "use models::smtp::client::send_mail;",
        "use models::{env::Env, mx};",
        "use models;",
        "    let a = models::mx::lookup(env).await;",
        "use models::environment::X;",
        "use models::configuration;",
        "use models::config::SMTP_PORT;",
    ] {
        assert_eq!(forbidden_uses(bad).len(), 1, "{bad}");
    }
    for fine in [
        "use models::env::{self, Env};",
        "// models::smtp in a comment",
        "let my_models = 1;",
    ] {
        assert_eq!(forbidden_uses(fine), Vec::<String>::new(), "{fine}");
    }
}
