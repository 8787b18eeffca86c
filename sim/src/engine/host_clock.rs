//! Per-host clocks, in the spirit of TigerBeetle's simulated time: a host
//! under a `clock` fault reads the global simulated time moved by an offset
//! (a step when the fault begins, and a step back when it ends, as NTP
//! corrects it), a linear drift in parts per million since the step, and a
//! periodic wander (a triangle wave). Timers run on the host's clock too: a
//! sleep of `d` on a clock running fast ends earlier in global time.
//!
//! Only the host's own view moves: the observation log stays on global
//! time, so properties judge by true time what hosts did with wrong clocks.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

/// How one host's clock is off while a fault lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skew {
    /// Global time the fault began (the drift and wander count from here).
    pub since_us: u64,
    pub offset_ms: i64,
    pub drift_ppm: i64,
    /// Amplitude of the wander (0: none).
    pub wander_ms: u64,
    pub wander_period_ms: u64,
}

impl Skew {
    /// The host's error against true time at global time `global_us`, in µs.
    pub fn error_us(&self, global_us: u64) -> i128 {
        let elapsed = global_us.saturating_sub(self.since_us) as i128;
        let drift = elapsed * self.drift_ppm as i128 / 1_000_000;
        self.offset_ms as i128 * 1_000 + drift + self.wander_us(elapsed)
    }

    /// A triangle wave from 0 up to +amplitude, down to -amplitude and back.
    fn wander_us(&self, elapsed_us: i128) -> i128 {
        let amplitude = self.wander_ms as i128 * 1_000;
        let period = self.wander_period_ms as i128 * 1_000;
        if amplitude == 0 || period < 4 {
            return 0;
        }
        // Shifted a quarter period so the wave starts at 0, not at a step.
        let phase = (elapsed_us + period / 4) % period;
        let half = period / 2;
        let rising = if phase < half { phase } else { period - phase };
        rising * 4 * amplitude / period - amplitude
    }
}

/// The skewed clocks of one run, by host; a host not listed reads true time.
#[derive(Default)]
pub struct HostClocks {
    skews: RefCell<BTreeMap<String, Skew>>,
}

impl HostClocks {
    /// Puts exactly these hosts' clocks off (the rest read true time again).
    pub fn set(&self, skews: BTreeMap<String, Skew>) {
        *self.skews.borrow_mut() = skews;
    }

    /// What `host` reads as the time when the global time is `global`.
    pub fn local(&self, host: &str, global: Duration) -> Duration {
        let skews = self.skews.borrow();
        let Some(skew) = skews.get(host) else {
            return global;
        };
        let global_us = global.as_micros() as u64;
        let local_us = global_us as i128 + skew.error_us(global_us);
        Duration::from_micros(local_us.clamp(0, u64::MAX as i128) as u64)
    }

    /// How much global time passes while `host`'s clock advances `local`
    /// (drift only: a wander or a step during a sleep does not move it).
    pub fn global_span(&self, host: &str, local: Duration) -> Duration {
        let skews = self.skews.borrow();
        let Some(skew) = skews.get(host).filter(|s| s.drift_ppm != 0) else {
            return local;
        };
        let rate = 1_000_000 + skew.drift_ppm as i128;
        let global_ns = local.as_nanos() as i128 * 1_000_000 / rate.max(1);
        Duration::from_nanos(global_ns.clamp(0, u64::MAX as i128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skew(offset_ms: i64, drift_ppm: i64, wander_ms: u64) -> Skew {
        Skew {
            since_us: 1_000_000,
            offset_ms,
            drift_ppm,
            wander_ms,
            wander_period_ms: 4_000,
        }
    }

    #[test]
    fn a_stepped_clock_reads_the_offset_and_a_fast_one_gains_its_drift() {
        let clocks = HostClocks::default();
        clocks.set([("gw".to_string(), skew(500, 1_000, 0))].into());
        let at = |s: u64| clocks.local("gw", Duration::from_secs(s)).as_micros();
        // At the step: the offset alone. 10 s later: plus 10 ms of drift.
        assert_eq!(at(1), 1_500_000);
        assert_eq!(at(11), 11_510_000);
        // Other hosts read true time.
        assert_eq!(clocks.local("mta-0", Duration::from_secs(11)).as_secs(), 11);
    }

    #[test]
    fn a_host_whose_clock_runs_fast_wakes_earlier_in_global_time() {
        let clocks = HostClocks::default();
        clocks.set([("gw".to_string(), skew(0, 100_000, 0))].into());
        let span = clocks.global_span("gw", Duration::from_millis(1_100));
        assert_eq!(span, Duration::from_millis(1_000));
        assert_eq!(
            clocks.global_span("other", Duration::from_millis(1_100)),
            Duration::from_millis(1_100)
        );
    }

    #[test]
    fn wander_starts_at_zero_and_swings_by_its_amplitude_both_ways() {
        let s = skew(0, 0, 200);
        let at = |ms: u64| s.error_us(1_000_000 + ms * 1_000);
        assert_eq!(at(0), 0);
        assert_eq!(at(1_000), 200_000);
        assert_eq!(at(2_000), 0);
        assert_eq!(at(3_000), -200_000);
        assert_eq!(at(4_000), 0);
    }

    #[test]
    fn a_clock_stepped_back_before_the_start_reads_zero_not_a_panic() {
        let clocks = HostClocks::default();
        clocks.set([("gw".to_string(), skew(-5_000, 0, 0))].into());
        assert_eq!(clocks.local("gw", Duration::from_secs(2)), Duration::ZERO);
    }
}
