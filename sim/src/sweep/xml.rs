//! Escaping for the sweep's HTML page (`report/`): text and attribute
//! values, by XML's rules, which are also HTML's. (JUnit is written by
//! `quick-junit`, which escapes for itself.)
//!
//! Besides the five markup characters, XML 1.0 forbids most control
//! characters outright — a stray ESC from a panic message would make the
//! page unreadable to a strict parser — so they are written out as `\u{1b}`.
//! In attributes, newlines and tabs become character references, or a
//! parser would normalise them to spaces.

use std::fmt::Write as _;

/// Escapes text content.
pub fn text(raw: &str) -> String {
    escape(raw, false)
}

/// Escapes an attribute value (for double or single quotes).
pub fn attr(raw: &str) -> String {
    escape(raw, true)
}

fn escape(raw: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' | '\r' | '\t' if attribute => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\n' | '\r' | '\t' => out.push(c),
            c if allowed(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    out
}

/// Characters XML 1.0 allows (tab, newline and return are handled above).
fn allowed(c: char) -> bool {
    matches!(u32::from(c), 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(text("a<b & c>d"), "a&lt;b &amp; c&gt;d");
        assert_eq!(
            attr(r#"say "hi" & 'bye'"#),
            "say &quot;hi&quot; &amp; &apos;bye&apos;"
        );
    }

    #[test]
    fn newlines_survive_in_text_and_become_references_in_attributes() {
        assert_eq!(text("a\nb\tc"), "a\nb\tc");
        assert_eq!(attr("a\nb\tc"), "a&#10;b&#9;c");
    }

    #[test]
    fn control_characters_forbidden_in_xml_are_spelled_out() {
        assert_eq!(
            text("red \u{1b}[31m bell \u{7}"),
            "red \\u{1b}[31m bell \\u{7}"
        );
        assert_eq!(text("nul \u{0} fffe \u{fffe}"), "nul \\u{0} fffe \\u{fffe}");
        assert_eq!(text("émoji 📬"), "émoji 📬");
    }
}
