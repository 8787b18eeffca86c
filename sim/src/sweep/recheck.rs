//! Which seeds a sweep runs twice to compare digests (FoundationDB re-checks
//! a share of its simulation runs the same way). The choice is a pure
//! function of the seed, so every shard, every resumed run and every machine
//! rechecks the same seeds, and a share of 5% stays 5% of any range.

use crate::prng::derive_seed;

/// Parses `--recheck PCT` (0 to 100, fractions allowed).
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("invalid percentage {text:?}: expected a number from 0 to 100"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!(
            "invalid percentage {text:?}: it must be from 0 to 100"
        ));
    }
    Ok(value)
}

/// Whether `seed` is rechecked at `percent`.
pub fn rechecked(seed: u64, percent: f64) -> bool {
    // Basis points, so 0.5% works; the hash spreads consecutive seeds.
    let threshold = (percent * 100.0).round() as u64;
    derive_seed(seed, "sweep-recheck") % 10_000 < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_all_are_exact() {
        assert!((0..1_000).all(|s| !rechecked(s, 0.0)));
        assert!((0..1_000).all(|s| rechecked(s, 100.0)));
    }

    #[test]
    fn the_share_is_close_to_the_percentage() {
        let count = (0..20_000).filter(|&s| rechecked(s, 5.0)).count();
        assert!((800..1_200).contains(&count), "{count} of 20000 at 5%");
    }

    #[test]
    fn the_choice_depends_only_on_the_seed() {
        let first: Vec<u64> = (0..500).filter(|&s| rechecked(s, 10.0)).collect();
        let again: Vec<u64> = (0..500).filter(|&s| rechecked(s, 10.0)).collect();
        assert_eq!(first, again);
        assert!(!first.is_empty());
    }

    #[test]
    fn percentages_parse_and_out_of_range_is_refused() {
        assert_eq!(parse_percent("5"), Ok(5.0));
        assert_eq!(parse_percent("0.5%"), Ok(0.5));
        for bad in ["-1", "101", "five", ""] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }
}
