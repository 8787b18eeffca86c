//! The `pause` fault: a gateway-side host's processes stall (a GC or VM
//! pause) while the rest of the world runs. A pause no longer than
//! `models::tolerances::PAUSE_MS_MAX` is part of its region's failure, as a
//! host crash is; a longer one is beyond the model (a stall that outlasts
//! every lease and in-doubt wait can make a correct gateway deliver twice).

use models::tolerances::PAUSE_MS_MAX;

use crate::faults::{Fault, FaultKind};
use crate::prng::Prng;
use crate::topology::Topology;

pub fn within_bound(fault: &Fault) -> bool {
    !matches!(fault.kind, FaultKind::Pause { .. }) || fault.duration_ms <= PAUSE_MS_MAX
}

pub fn validate(fault: &Fault, topology: &Topology) -> Result<(), String> {
    match &fault.kind {
        FaultKind::Pause { host } if topology.region_of_host(host).is_none() => {
            Err(format!("pause fault names unknown gateway host {host:?}"))
        }
        _ => Ok(()),
    }
}

/// A pause of one of `hosts` for the swarm, within the bound except
/// `beyond_percent` of the time (then up to ten times as long).
pub fn draw(prng: &mut Prng, hosts: &[String], at_ms: u64, beyond_percent: u64) -> Fault {
    let host = prng.pick(hosts).clone();
    let duration_ms = if prng.percent(beyond_percent) {
        prng.range(PAUSE_MS_MAX + 1, PAUSE_MS_MAX * 10 + 1)
    } else {
        prng.range(100, PAUSE_MS_MAX + 1)
    };
    Fault {
        at_ms,
        duration_ms,
        kind: FaultKind::Pause { host },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_longer_than_the_bound_is_beyond_it_and_drawn_pauses_are_within() {
        let pause = |duration_ms| Fault {
            at_ms: 0,
            duration_ms,
            kind: FaultKind::Pause {
                host: "gw-aws-us-east-1-0".into(),
            },
        };
        assert!(within_bound(&pause(PAUSE_MS_MAX)));
        assert!(!within_bound(&pause(PAUSE_MS_MAX + 1)));
        let hosts = vec!["gw-aws-us-east-1-0".to_string()];
        let mut prng = Prng::new(3);
        for _ in 0..100 {
            let fault = draw(&mut prng, &hosts, 500, 0);
            assert!(within_bound(&fault));
            assert!(validate(&fault, &Topology::standard()).is_ok());
        }
    }
}
