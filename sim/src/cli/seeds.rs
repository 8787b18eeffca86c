//! Seed ranges as users type them: `A..B` (B excluded) or `A..=B`.

use std::ops::Range;

/// Parses a non-empty seed range; the error says what is wrong.
pub fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let bad =
        || format!("invalid seed range {text:?}: expected A..B or A..=B with A < B, e.g. 0..100");
    let (start, end, inclusive) = if let Some((a, b)) = text.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = text.split_once("..") {
        (a, b, false)
    } else {
        return Err(bad());
    };
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end: u64 = end.trim().parse().map_err(|_| bad())?;
    let end = if inclusive {
        end.checked_add(1).ok_or_else(bad)?
    } else {
        end
    };
    if end <= start {
        return Err(format!(
            "invalid seed range {text:?}: it is empty (the end must be after the start)"
        ));
    }
    Ok(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_open_and_inclusive_ranges_parse() {
        assert_eq!(parse_seed_range("0..10"), Ok(0..10));
        assert_eq!(parse_seed_range("3..=3"), Ok(3..4));
    }

    #[test]
    fn backwards_empty_and_garbage_ranges_are_refused() {
        assert!(parse_seed_range("5..2").is_err());
        assert!(parse_seed_range("5..5").is_err());
        assert!(parse_seed_range("five..9").is_err());
        assert!(parse_seed_range("7").is_err());
        assert!(parse_seed_range("-1..3").is_err());
    }
}
