//! The retry schedule, Postfix style: the first retry after the minimal
//! backoff, each next one twice as late, never later than the maximal
//! backoff; a message older than the queue lifetime is given up.

/// Delay before retry number `attempts` (1 = the first retry).
pub fn backoff_ms(attempts: u32, backoff_ms_min: u64, backoff_ms_max: u64) -> u64 {
    assert!(backoff_ms_min > 0, "minimal backoff must be positive");
    assert!(
        backoff_ms_min <= backoff_ms_max,
        "minimal backoff above maximal"
    );
    let doublings = attempts.saturating_sub(1).min(32);
    backoff_ms_min
        .saturating_mul(1u64 << doublings)
        .min(backoff_ms_max)
}

/// Whether a message received at `received_ms` has outlived the queue.
pub fn expired(now_ms: u64, received_ms: u64, queue_lifetime_ms: u64) -> bool {
    now_ms.saturating_sub(received_ms) >= queue_lifetime_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_minimum_and_stops_at_the_maximum() {
        let delays: Vec<u64> = (1..=6).map(|n| backoff_ms(n, 1_000, 8_000)).collect();
        assert_eq!(delays, vec![1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    }

    #[test]
    fn a_huge_attempt_count_does_not_overflow() {
        assert_eq!(backoff_ms(u32::MAX, 1_000, 8_000), 8_000);
    }

    #[test]
    fn a_message_expires_exactly_at_its_lifetime() {
        assert!(!expired(10_999, 1_000, 10_000));
        assert!(expired(11_000, 1_000, 10_000));
    }
}
