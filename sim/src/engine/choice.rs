//! Which engine runs a simulation: `turmoil` (the default and reference:
//! every host advances on every tick; real mode mirrors it) or `madsim`
//! (jumps from event to event; only in builds with `--cfg madsim`). The
//! command line takes `--engine`; the proptest suites read `MAILSIM_ENGINE`.

use std::fmt;

use crate::engine::run_loop::RunArtifacts;
use crate::scenario::Scenario;

/// The environment variable the proptest suites (and other library callers
/// that ask [`Engine::from_env`]) read.
pub const ENGINE_VAR: &str = "MAILSIM_ENGINE";

/// How to get a build with the madsim engine.
pub const MADSIM_BUILD: &str =
    "RUSTFLAGS=\"--cfg madsim\" cargo build --release --target-dir target/madsim -p sim";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Engine {
    #[default]
    Turmoil,
    Madsim,
}

impl Engine {
    /// The name written into failure files, summaries and sweep records.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Turmoil => "turmoil",
            Engine::Madsim => "madsim",
        }
    }

    pub fn from_name(name: &str) -> Option<Engine> {
        match name {
            "turmoil" => Some(Engine::Turmoil),
            "madsim" => Some(Engine::Madsim),
            _ => None,
        }
    }

    /// Whether this build can run the engine.
    pub fn available(self) -> bool {
        match self {
            Engine::Turmoil => true,
            Engine::Madsim => cfg!(madsim),
        }
    }

    /// Ok if this build can run the engine, else what to do about it.
    pub fn check_available(self) -> Result<(), String> {
        if self.available() {
            return Ok(());
        }
        Err(format!(
            "the {self} engine is not in this build; build it with:\n  {MADSIM_BUILD}\n\
             then run target/madsim/release/mailsim"
        ))
    }

    /// `MAILSIM_ENGINE` (turmoil when unset); an unknown or unavailable
    /// engine is an error that says what to do.
    pub fn from_env() -> Result<Engine, String> {
        let engine = match std::env::var(ENGINE_VAR) {
            Err(_) => Engine::Turmoil,
            Ok(value) if value.is_empty() => Engine::Turmoil,
            Ok(value) => Engine::from_name(&value).ok_or_else(|| {
                format!("{ENGINE_VAR}={value:?}: unknown engine (turmoil or madsim)")
            })?,
        };
        engine.check_available()?;
        Ok(engine)
    }

    /// Runs `scenario` with `seed` on this engine. Callers check
    /// [`Engine::check_available`] first; an engine missing from the build
    /// is reported as a host failure rather than a panic.
    pub fn run(self, scenario: &Scenario, seed: u64) -> RunArtifacts {
        match self {
            Engine::Turmoil => crate::engine::turmoil_run::run(scenario, seed),
            #[cfg(madsim)]
            Engine::Madsim => crate::engine::madsim_run::run(scenario, seed),
            #[cfg(not(madsim))]
            Engine::Madsim => RunArtifacts {
                log: traces::Log::new(),
                sim_ms: 0,
                host_failure: self.check_available().err(),
                spool_residue: Vec::new(),
                facts: crate::deploy::Deployed::new(scenario).facts,
                livelock: None,
            },
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
