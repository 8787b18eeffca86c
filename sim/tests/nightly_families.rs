//! The nightly sweeps every fault family: the GitHub Actions workflow, the
//! Kubernetes jobs and the local script each name the families in a list of
//! their own, and a family added to `Family` but missing from one of them
//! would silently never run at night.

use clap::ValueEnum;
use sim::scenario::Family;

/// The files that list the nightly's families, from the repository root.
const LISTS: &[&str] = &[
    ".github/workflows/nightly-sweep.yml",
    "deploy/k8s/nightly-sweep.yaml",
    "deploy/k8s/nightly-merge.yaml",
    "scripts/nightly-local.sh",
];

#[test]
fn every_nightly_list_names_every_family() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for list in LISTS {
        let text = std::fs::read_to_string(root.join(list))
            .unwrap_or_else(|e| panic!("cannot read {list}: {e}"));
        let line = text
            .lines()
            .find(|line| line.contains("calm region-outage"))
            .unwrap_or_else(|| panic!("{list} has no list of families"));
        let named: Vec<&str> = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            // `${FAMILIES:-calm ...}` leaves the default's dash on its first word.
            .map(|word| word.trim_start_matches('-'))
            .collect();
        for family in Family::value_variants() {
            let name = family.name();
            assert!(
                named.contains(&name.as_str()),
                "{list} does not sweep the {name} family: {line}"
            );
        }
    }
}
