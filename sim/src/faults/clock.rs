//! The `clock` fault: a gateway-side host's clock off true time (a step,
//! drift, wander), and the bound the gateway promises to survive
//! (`models::tolerances`): at every instant of the fault the host's error
//! stays within `CLOCK_ERROR_MS_MAX` and it drifts at most
//! `CLOCK_DRIFT_PPM_MAX`. So the step back when the fault ends is bounded
//! too. A clock fault within the bound is no failure of the gateway (any
//! number of hosts may have one at once); beyond it, the schedule is beyond
//! the model.

use models::tolerances::{CLOCK_DRIFT_PPM_MAX, CLOCK_ERROR_MS_MAX};

use crate::engine::host_clock::Skew;
use crate::faults::{Fault, FaultKind};
use crate::prng::Prng;
use crate::topology::Topology;

/// The largest error the fault puts on its host's clock, in ms (offset,
/// all the drift it accumulates while it lasts, and the wander).
pub fn error_ms_max(fault: &Fault) -> u64 {
    let FaultKind::Clock {
        offset_ms,
        drift_ppm,
        wander_ms,
        ..
    } = &fault.kind
    else {
        return 0;
    };
    let drift_ms = drift_ppm.unsigned_abs().saturating_mul(fault.duration_ms) / 1_000_000;
    offset_ms
        .unsigned_abs()
        .saturating_add(drift_ms)
        .saturating_add(*wander_ms)
}

/// Whether the fault stays within what the gateway promises to survive.
pub fn within_bound(fault: &Fault) -> bool {
    let FaultKind::Clock { drift_ppm, .. } = &fault.kind else {
        return true;
    };
    drift_ppm.unsigned_abs() <= CLOCK_DRIFT_PPM_MAX && error_ms_max(fault) <= CLOCK_ERROR_MS_MAX
}

/// How the engine skews the host's clock for this fault.
pub fn skew(fault: &Fault) -> Option<(String, Skew)> {
    let FaultKind::Clock {
        host,
        offset_ms,
        drift_ppm,
        wander_ms,
        wander_period_ms,
    } = &fault.kind
    else {
        return None;
    };
    let skew = Skew {
        since_us: fault.at_ms * 1_000,
        offset_ms: *offset_ms,
        drift_ppm: *drift_ppm,
        wander_ms: *wander_ms,
        wander_period_ms: *wander_period_ms,
    };
    Some((host.clone(), skew))
}

pub fn describe(kind: &FaultKind) -> String {
    let FaultKind::Clock {
        host,
        offset_ms,
        drift_ppm,
        wander_ms,
        wander_period_ms,
    } = kind
    else {
        return String::new();
    };
    let mut text = format!("clock of {host} stepped {offset_ms:+} ms");
    if *drift_ppm != 0 {
        text.push_str(&format!(", drifting {drift_ppm:+} ppm"));
    }
    if *wander_ms != 0 {
        text.push_str(&format!(
            ", wandering {wander_ms} ms every {wander_period_ms} ms"
        ));
    }
    text
}

pub fn validate(fault: &Fault, topology: &Topology) -> Result<(), String> {
    let FaultKind::Clock {
        host,
        drift_ppm,
        wander_ms,
        wander_period_ms,
        ..
    } = &fault.kind
    else {
        return Ok(());
    };
    if topology.region_of_host(host).is_none() {
        return Err(format!("clock fault names unknown gateway host {host:?}"));
    }
    // A clock that stops or runs backwards is no clock.
    if drift_ppm.unsigned_abs() >= 500_000 {
        return Err(format!("fault '{fault}': drift_ppm must be within ±500000"));
    }
    if *wander_ms > 0 && *wander_period_ms < 4 {
        return Err(format!(
            "fault '{fault}': a wander needs wander_period_ms of at least 4"
        ));
    }
    Ok(())
}

/// A clock fault on one of `hosts` for the swarm: drawn within the bound,
/// except `beyond_percent` of the time, when its step is up to ten times
/// the bound (and may go either way).
pub fn draw(
    prng: &mut Prng,
    hosts: &[String],
    at_ms: u64,
    duration_ms: u64,
    beyond_percent: u64,
) -> Fault {
    let host = prng.pick(hosts).clone();
    let beyond = prng.percent(beyond_percent);
    let budget_ms = if beyond {
        CLOCK_ERROR_MS_MAX * 10
    } else {
        CLOCK_ERROR_MS_MAX
    };
    // Split the budget between step, drift and wander, so all stay within it.
    let step_ms = prng.range(0, budget_ms / 2 + 1) as i64;
    let offset_ms = if prng.percent(50) { step_ms } else { -step_ms };
    let drift_budget_ms = budget_ms / 4;
    let drift_ppm_cap = (drift_budget_ms * 1_000_000 / duration_ms.max(1)).min(CLOCK_DRIFT_PPM_MAX);
    let drift = prng.range(0, drift_ppm_cap + 1) as i64;
    let drift_ppm = if prng.percent(50) { drift } else { -drift };
    let wander_ms = prng.range(0, budget_ms / 4 + 1);
    let wander_period_ms = prng.range(1_000, 10_001);
    Fault {
        at_ms,
        duration_ms,
        kind: FaultKind::Clock {
            host,
            offset_ms,
            drift_ppm,
            wander_ms,
            wander_period_ms,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(offset_ms: i64, drift_ppm: i64, wander_ms: u64, duration_ms: u64) -> Fault {
        Fault {
            at_ms: 1_000,
            duration_ms,
            kind: FaultKind::Clock {
                host: "gw-aws-us-east-1-0".into(),
                offset_ms,
                drift_ppm,
                wander_ms,
                wander_period_ms: 2_000,
            },
        }
    }

    #[test]
    fn the_bound_counts_step_drift_and_wander_together() {
        assert!(within_bound(&clock(-600, 0, 400, 10_000)));
        assert!(!within_bound(&clock(-600, 0, 401, 10_000)));
        // 500 ppm over 100 s is 50 ms.
        assert_eq!(error_ms_max(&clock(900, 500, 0, 100_000)), 950);
        assert!(!within_bound(&clock(0, 501, 0, 1_000)));
    }

    #[test]
    fn drawn_clock_faults_stay_within_the_bound_unless_drawn_beyond() {
        let hosts = vec!["gw-aws-us-east-1-0".to_string()];
        let mut prng = Prng::new(7);
        for _ in 0..200 {
            let fault = draw(&mut prng, &hosts, 1_000, 30_000, 0);
            assert!(within_bound(&fault), "{fault}");
            assert!(validate(&fault, &Topology::standard()).is_ok(), "{fault}");
        }
        let beyond = (0..200)
            .filter(|_| !within_bound(&draw(&mut prng, &hosts, 1_000, 30_000, 100)))
            .count();
        assert!(beyond > 50, "only {beyond} of 200 drawn beyond the bound");
    }
}
