//! Dates as mail headers write them (RFC 5322 §3.3), from a host's clock
//! through the seam: simulated time in the simulator (counted from the Unix
//! epoch, so a run starts on 1 January 1970), the real time in `mailsim
//! serve`. The calendar arithmetic is mail-parser's, which we already use to
//! read mail.

use std::time::Duration;

/// `since_epoch` as an RFC 5322 date-time in UTC, e.g.
/// `Thu, 1 Jan 1970 00:00:05 +0000`.
pub fn rfc5322(since_epoch: Duration) -> String {
    let seconds = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    mail_parser::DateTime::from_timestamp(seconds).to_rfc822()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_and_a_known_day_are_written_as_rfc_5322_dates() {
        assert_eq!(rfc5322(Duration::ZERO), "Thu, 1 Jan 1970 00:00:00 +0000");
        // 2026-11-25 12:34:56 UTC, a Wednesday.
        assert_eq!(
            rfc5322(Duration::from_millis(1_795_610_096_789)),
            "Wed, 25 Nov 2026 12:34:56 +0000"
        );
    }
}
