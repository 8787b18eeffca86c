//! Which way imports flow inside `sim/src`, read from the source files:
//! the command line (`cli/`) is the top, so nothing below it may import it
//! (only `cli/` itself and `main.rs` do), and `engine/` holds the simulation
//! engines, so it may not import real mode (`serve/`). A lint cannot say
//! this about modules of one crate; reading the `crate::` paths can.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, as paths relative to `sim/src`.
fn rust_files(root: &Path, dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(root, &path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

/// The code of a file without its `//` comments, so prose that names a
/// module is not taken for an import.
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules of this crate a file's code names through
/// `crate::` paths, including grouped ones (`use crate::{cli, engine::X}`).
fn crate_modules_named(source: &str) -> BTreeSet<String> {
    let code = without_comments(source);
    let mut named = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate") {
        // `mycrate::` or `crate_x` is another name, not this crate.
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(path) = rest.trim_start().strip_prefix("::") else {
            continue;
        };
        let path = path.trim_start();
        if let Some(group) = path.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        item_start = false;
                        named.insert(leading_ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            named.insert(leading_ident(path));
        }
    }
    named
}

fn leading_ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Files under `sim/src` (outside `allowed`) whose code names `module`.
fn importers_of(module: &str, allowed: impl Fn(&Path) -> bool) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    assert!(
        files.len() > 50,
        "read only {} files under {}: is this the sim crate?",
        files.len(),
        root.display()
    );
    files
        .into_iter()
        .filter(|file| !allowed(file))
        .filter(|file| {
            let source = std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            crate_modules_named(&source).contains(module)
        })
        .map(|file| file.display().to_string())
        .collect()
}

#[test]
fn nothing_below_the_command_line_imports_it() {
    let upward = importers_of("cli", |file| {
        file.starts_with("cli") || file == Path::new("main.rs")
    });
    assert!(
        upward.is_empty(),
        "library code imports the command line (move what it needs below `cli/`): {upward:?}"
    );
}

#[test]
fn the_simulation_engines_do_not_import_real_mode() {
    let upward = importers_of("serve", |file| !file.starts_with("engine"));
    assert!(
        upward.is_empty(),
        "`engine/` imports `serve/` (real mode's code belongs under `serve/`): {upward:?}"
    );
}

#[test]
fn the_import_reader_finds_plain_grouped_and_nested_paths() {
    let source = "\
        //! Mentions crate::serve in prose only.\n\
        use crate::cli::EXIT;\n\
        use crate::{\n    engine::{hosts, seam},\n    report_text,\n};\n\
        fn f() { crate::sweep::run(); } // crate::merge in a comment\n\
        use sim::workload; use mycrate::faults;\n";
    let named = crate_modules_named(source);
    let expected: BTreeSet<String> = ["cli", "engine", "report_text", "sweep"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(named, expected);
}
