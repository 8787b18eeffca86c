//! Where a run's scenario comes from: a seed and a family to draw it from,
//! or a saved scenario file, plus the bugs switched on and the engine. The
//! command line flattens it into `run` and `sweep-worker`; sweeps build one
//! per seed. It also writes the flags that bring the same source back, for
//! repro lines.

use std::path::PathBuf;

use crate::engine::Engine;
use crate::scenario::{Family, Scenario};
use crate::shell::shell_word;

#[derive(clap::Args, Debug, Clone)]
pub struct ScenarioSource {
    /// The seed: draws the scenario (unless --scenario) and seeds the engine.
    #[arg(long)]
    pub seed: u64,
    /// Run this scenario file (JSON) instead of drawing one from the seed.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Which family of fault schedules to draw from.
    #[arg(
        long,
        value_enum,
        default_value = "region-outage",
        conflicts_with = "scenario"
    )]
    pub family: Family,
    /// Switch on a known bug (repeatable; see `mailsim bugs`).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Switch on code-level fault injection in the gateway (BUGGIFY sites,
    /// `mailsim` lists them in `run`'s summary).
    #[arg(long)]
    pub buggify: bool,
    /// The engine: turmoil (reference) or madsim (fast; needs a build with
    /// RUSTFLAGS="--cfg madsim").
    #[arg(long, value_enum, default_value = "turmoil")]
    pub engine: Engine,
}

impl ScenarioSource {
    /// The scenario this source names, validated.
    pub fn load(&self) -> Result<Scenario, String> {
        let mut scenario = match &self.scenario {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))?;
                Scenario::from_json(&text)
                    .map_err(|e| format!("bad scenario {}: {e}", path.display()))?
            }
            None => Scenario::generate_family(self.seed, self.family),
        };
        for bug in &self.bugs {
            if !scenario.bugs.contains(bug) {
                scenario.bugs.push(bug.clone());
            }
        }
        scenario.buggify |= self.buggify;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The flags that reproduce this source, for the repro line.
    pub fn repro_flags(&self) -> String {
        let mut flags = format!("--seed {}", self.seed);
        match &self.scenario {
            Some(path) => flags.push_str(&format!(
                " --scenario {}",
                shell_word(&path.display().to_string())
            )),
            None if self.family != Family::RegionOutage => {
                flags.push_str(&format!(" --family {}", self.family.name()));
            }
            None => {}
        }
        for bug in &self.bugs {
            flags.push_str(&format!(" --bug {}", shell_word(bug)));
        }
        if self.buggify {
            flags.push_str(" --buggify");
        }
        if self.engine != Engine::Turmoil {
            flags.push_str(&format!(" --engine {}", self.engine));
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(family: Family) -> ScenarioSource {
        ScenarioSource {
            seed: 7,
            scenario: None,
            family,
            bugs: Vec::new(),
            buggify: false,
            engine: Engine::Turmoil,
        }
    }

    #[test]
    fn the_default_family_and_engine_are_left_out_of_the_repro_flags() {
        assert_eq!(source(Family::RegionOutage).repro_flags(), "--seed 7");
    }

    #[test]
    fn other_families_bugs_and_engines_are_named_as_the_command_line_takes_them() {
        let mut source = source(Family::ScannerOutage);
        source.bugs = vec!["fail-open-scanner".into(), "it's".into()];
        source.engine = Engine::Madsim;
        assert_eq!(
            source.repro_flags(),
            "--seed 7 --family scanner-outage --bug fail-open-scanner --bug 'it'\\''s' --engine madsim"
        );
    }

    #[test]
    fn a_scenario_file_path_is_quoted_for_the_shell() {
        let mut source = source(Family::RegionOutage);
        source.scenario = Some(PathBuf::from("my cases/a.json"));
        assert_eq!(
            source.repro_flags(),
            "--seed 7 --scenario 'my cases/a.json'"
        );
    }
}
