//! The simulator's answer to the gateway's BUGGIFY sites
//! (`models::buggify`), as FoundationDB's: off unless the scenario switches
//! it on; then each site is enabled for the whole run with a 25% chance,
//! and an enabled site fires at its own rate, 5% to 25% of the times it is
//! reached. Whether a site is enabled and its rate come from the run's
//! seed and the site's name; each firing is a draw from one stream for the
//! run (single-threaded: the order of draws is the order of the run).
//!
//! The first time a site fires on a host in a run, `buggify_fired {site}`
//! is logged under that host: coverage of the rare paths, for `mailsim
//! run`'s summary and the sweep's sites that never fired, and for the
//! properties that excuse a host once code-level faults hit it
//! (`order_after_recovery`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use traces::EventKind;

use crate::engine::observer::Observer;
use crate::prng::{Prng, derive_seed};

/// Chance that a site is enabled for a run.
pub const SITE_ENABLED_PERCENT: u64 = 25;
/// An enabled site fires at a rate drawn from this range (percent).
pub const FIRE_PERCENT_MIN: u64 = 5;
pub const FIRE_PERCENT_MAX: u64 = 25;

#[derive(Clone, Copy, Debug)]
struct Site {
    enabled: bool,
    fire_percent: u64,
}

/// One run's BUGGIFY state; off (every site answers no) until switched on.
#[derive(Default)]
pub struct Buggify {
    seed: Cell<Option<u64>>,
    draws: RefCell<Option<Prng>>,
    sites: RefCell<BTreeMap<&'static str, Site>>,
    /// (site, host) pairs that have fired, so each is logged once.
    fired: RefCell<BTreeSet<(&'static str, String)>>,
}

impl Buggify {
    /// Switches BUGGIFY on for this run.
    pub fn switch_on(&self, run_seed: u64) {
        self.seed.set(Some(run_seed));
        *self.draws.borrow_mut() = Some(Prng::new(derive_seed(run_seed, "buggify/fire")));
    }

    /// Whether `site`, reached by `host`, fires now.
    pub fn fires(&self, observer: &Observer, host: &str, site: &'static str) -> bool {
        let Some(seed) = self.seed.get() else {
            return false;
        };
        let mut sites = self.sites.borrow_mut();
        let state = sites.entry(site).or_insert_with(|| {
            let mut prng = Prng::new(derive_seed(seed, &format!("buggify/site/{site}")));
            Site {
                enabled: prng.percent(SITE_ENABLED_PERCENT),
                fire_percent: prng.range(FIRE_PERCENT_MIN, FIRE_PERCENT_MAX + 1),
            }
        });
        if !state.enabled {
            return false;
        }
        let fire = self
            .draws
            .borrow_mut()
            .as_mut()
            .is_some_and(|draws| draws.percent(state.fire_percent));
        if fire && self.fired.borrow_mut().insert((site, host.to_string())) {
            observer.record(
                host,
                EventKind::BuggifyFired {
                    site: site.to_string(),
                },
            );
        }
        fire
    }
}

/// The sites that fired in a run, from its log (sorted, once each).
pub fn fired_sites(log: &traces::Log) -> Vec<String> {
    let mut sites: Vec<String> = log
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BuggifyFired { site } => Some(site.clone()),
            _ => None,
        })
        .collect();
    sites.sort();
    sites.dedup();
    sites
}
