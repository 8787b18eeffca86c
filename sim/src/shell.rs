//! Quoting for a POSIX shell: repro lines, the commands `serve` prints to
//! restart a region, and a sweep's own command line must paste back into a
//! shell as the same words.

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn plain_words_stay_as_they_are() {
        assert_eq!(shell_word("--seed=7"), "--seed=7");
        assert_eq!(shell_word("out/seed-7.json"), "out/seed-7.json");
    }

    #[test]
    fn spaces_quotes_and_the_empty_word_are_single_quoted() {
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
    }
}
