//! The scanner's verdict on one message: Malware, Spam or Clean.
//!
//! The gateway's scanning stage calls [`scan`] on the spooled bytes. It is a
//! pure function of those bytes, so every scanner gives a message the same
//! verdict. (The properties do not ask it: they judge delivered mail by
//! what the workload built.)
//!
//! Malware means the EICAR test string occurs in the raw bytes or in any
//! decoded part (base64 and quoted-printable undone, nested `message/rfc822`
//! parts opened recursively), or a message is nested deeper than the
//! scanner opens (`NESTING_MAX`, 16): what it cannot look into it does not
//! call clean. Spam is a small deterministic score, described at
//! [`SPAM_THRESHOLD`]. Input mail-parser makes nothing of (no header and
//! no body, or a panic inside it) is Clean with reason `unparseable`, once
//! the raw bytes have been searched.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

pub use traces::Verdict;

/// The industry-standard antivirus test file (68 bytes, sha256
/// 275a021b…51fd0f, as published by EICAR); any scanner must flag it.
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The signature as this scanner once spelled it, with the second `$`
/// missing: the `scanner-signature-typo` bug scans for this instead, and so
/// misses the real file.
pub const EICAR_TYPO: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!H+H*";

/// How a scan deviates from the correct one: each field is a catalogue bug.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanBugs {
    /// `scanner-skips-encoded-attachments`.
    pub skip_base64_attachments: bool,
    /// `scanner-signature-typo`.
    pub signature_typo: bool,
}

/// What the scanner decided and a human-readable why, for logs and traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanReport {
    pub verdict: Verdict,
    pub reason: String,
}

/// Scans a whole message: Malware beats Spam beats Clean.
pub fn scan(raw: &[u8]) -> ScanReport {
    scan_with(raw, ScanBugs::default())
}

/// The same, but ignoring attachments whose Content-Transfer-Encoding is base64 (a known-bug switch the gateway can turn on later).
pub fn scan_skipping_encoded_attachments(raw: &[u8]) -> ScanReport {
    scan_with(
        raw,
        ScanBugs {
            skip_base64_attachments: true,
            ..ScanBugs::default()
        },
    )
}

/// A message is Spam when its score reaches this.
///
/// The score reads the Subject and the top-level text and HTML bodies,
/// lower-cased and reduced to words separated by single spaces (so "act now"
/// does not match inside "contact now"):
/// - +3 for each distinct phrase of [`SPAM_PHRASES`] present;
/// - +2 if the Subject has three or more '!';
/// - +2 if the Subject is ALL CAPS (at least six letters, none lower-case);
/// - +1 if the bodies hold ten or more '!'.
///
/// One suspicious word alone (a news item about a lottery) stays Clean; two,
/// or one with a shouting subject, is Spam.
pub const SPAM_THRESHOLD: u32 = 5;

/// Phrases in the normalised word form described at [`SPAM_THRESHOLD`].
pub const SPAM_PHRASES: &[&str] = &[
    "viagra",
    "lottery",
    "winner",
    "click here",
    "free money",
    "crypto giveaway",
    "claim your prize",
    "act now",
    "100 free",
    "wire transfer",
    "risk free",
    "unclaimed funds",
];

/// Nested messages are opened at most this deep, so hostile nesting cannot
/// exhaust the stack. A message nested deeper is not scannable, and the
/// scanner fails closed on it (malware): seventeen layers of
/// `message/rfc822` around a base64 EICAR attachment are under 16 KiB,
/// well inside a message's size limit, and were called clean.
const NESTING_MAX: usize = 16;

/// What [`Search::find`] found, and where (a dotted path of part indexes,
/// e.g. `2.1` for part 1 of the message nested in part 2).
enum Finding {
    Eicar(String),
    TooDeep(String),
}

/// Scans with the catalogue bugs in `bugs` switched on.
pub fn scan_with(raw: &[u8], bugs: ScanBugs) -> ScanReport {
    let signature = if bugs.signature_typo {
        EICAR_TYPO.as_bytes()
    } else {
        EICAR.as_bytes()
    };
    // The raw check comes first so that even bytes mail-parser rejects, or
    // parts it mis-splits, cannot carry EICAR past the scanner unencoded.
    if contains(raw, signature) {
        return malware("EICAR test string in raw message bytes".to_string());
    }
    let Some(message) = parse_guarded(raw) else {
        return ScanReport {
            verdict: Verdict::Clean,
            reason: "unparseable".to_string(),
        };
    };
    let search = Search {
        signature,
        skip_b64: bugs.skip_base64_attachments,
    };
    match search.find(&message, 0, "") {
        Some(Finding::Eicar(place)) => {
            return malware(format!("EICAR test string in part {place}"));
        }
        Some(Finding::TooDeep(place)) => {
            return malware(format!(
                "part {place} nests messages deeper than {NESTING_MAX}: not scannable"
            ));
        }
        None => {}
    }
    let (score, hits) = spam_score(&message);
    if score >= SPAM_THRESHOLD {
        ScanReport {
            verdict: Verdict::Spam,
            reason: format!(
                "spam score {score} >= {SPAM_THRESHOLD}: {}",
                hits.join(", ")
            ),
        }
    } else {
        ScanReport {
            verdict: Verdict::Clean,
            reason: format!("no malware; spam score {score} < {SPAM_THRESHOLD}"),
        }
    }
}

fn malware(reason: String) -> ScanReport {
    ScanReport {
        verdict: Verdict::Malware,
        reason,
    }
}

/// mail-parser promises not to panic, but it is third-party code fed hostile
/// bytes and carries debug assertions; a panic there must not take the
/// scanner down with it, so it counts as unparseable.
pub(crate) fn parse_guarded(raw: &[u8]) -> Option<Message<'_>> {
    let parser = MessageParser::default();
    catch_unwind(AssertUnwindSafe(|| parser.parse(raw)))
        .ok()
        .flatten()
}

/// What [`Search::find`] looks for, and which parts it skips.
struct Search<'s> {
    signature: &'s [u8],
    skip_b64: bool,
}

impl Search<'_> {
    /// Where EICAR is, or the first message nested too deep to look in.
    fn find(&self, message: &Message<'_>, depth: usize, path: &str) -> Option<Finding> {
        let (signature, skip_b64) = (self.signature, self.skip_b64);
        for (index, part) in message.parts.iter().enumerate() {
            let here = if path.is_empty() {
                index.to_string()
            } else {
                format!("{path}.{index}")
            };
            if skip_b64 && is_base64_attachment(message, index, part) {
                continue;
            }
            match &part.body {
                PartType::Text(text) | PartType::Html(text) => {
                    if contains(text.as_bytes(), signature) {
                        return Some(Finding::Eicar(here));
                    }
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                    if contains(bytes, signature) {
                        return Some(Finding::Eicar(here));
                    }
                    // mail-parser stops parsing nested encoded messages after a
                    // few levels and hands back the decoded bytes instead; they
                    // may hold further encoded layers, so parse them ourselves.
                    if part.is_content_type("message", "rfc822")
                        && let Some(nested) = parse_guarded(bytes)
                    {
                        if depth >= NESTING_MAX {
                            return Some(Finding::TooDeep(here));
                        }
                        if let Some(found) = self.find(&nested, depth + 1, &here) {
                            return Some(found);
                        }
                    }
                }
                PartType::Message(nested) => {
                    if depth >= NESTING_MAX {
                        return Some(Finding::TooDeep(here));
                    }
                    if let Some(found) = self.find(nested, depth + 1, &here) {
                        return Some(found);
                    }
                }
                PartType::Multipart(_) => {}
            }
        }
        None
    }
}

fn is_base64_attachment(message: &Message<'_>, index: usize, part: &MessagePart<'_>) -> bool {
    let is_attachment = u32::try_from(index).is_ok_and(|id| message.attachments.contains(&id));
    is_attachment
        && part
            .content_transfer_encoding()
            .is_some_and(|cte| cte.trim().eq_ignore_ascii_case("base64"))
}

/// Returns the score and the rules that fired, for the report's reason.
fn spam_score(message: &Message<'_>) -> (u32, Vec<String>) {
    let subject = message.subject().unwrap_or("");

    // A text-only message lists its text part as its HTML body too; count it once.
    let body_ids: BTreeSet<u32> = message
        .text_body
        .iter()
        .chain(message.html_body.iter())
        .copied()
        .collect();
    let mut bodies = String::new();
    for id in body_ids {
        if let Some(text) = message.part(id).and_then(|p| p.text_contents()) {
            bodies.push_str(text);
            bodies.push('\n');
        }
    }

    let words = normalise(&format!("{subject}\n{bodies}"));
    let mut score = 0;
    let mut hits = Vec::new();
    for phrase in SPAM_PHRASES {
        if words.contains(&format!(" {phrase} ")) {
            score += 3;
            hits.push(format!("phrase '{phrase}'"));
        }
    }
    if subject.matches('!').count() >= 3 {
        score += 2;
        hits.push("'!!!' subject".to_string());
    }
    let letters = subject.chars().filter(|c| c.is_alphabetic()).count();
    if letters >= 6 && !subject.chars().any(char::is_lowercase) {
        score += 2;
        hits.push("all-caps subject".to_string());
    }
    if bodies.matches('!').count() >= 10 {
        score += 1;
        hits.push("many '!' in body".to_string());
    }
    (score, hits)
}

/// Lower-case words separated by single spaces, with a space at each end so
/// that every phrase can be matched on whole-word boundaries.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        let mut wrapped = String::new();
        for line in out.as_bytes().chunks(76) {
            wrapped.push_str(&String::from_utf8_lossy(line));
            wrapped.push_str("\r\n");
        }
        wrapped
    }

    fn with_attachment(ctype: &str, b64_body: &str) -> Vec<u8> {
        format!(
            "From: a@x.example\r\nTo: b@y.example\r\nSubject: Files\r\n\
             Message-ID: <att@x.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"BOUND\"\r\n\r\n\
             --BOUND\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
             --BOUND\r\nContent-Type: {ctype}\r\n\
             Content-Disposition: attachment; filename=\"file.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64_body}\
             --BOUND--\r\n"
        )
        .into_bytes()
    }

    fn eicar_in_base64_attachment() -> Vec<u8> {
        with_attachment("application/octet-stream", &b64(EICAR.as_bytes()))
    }

    fn eicar_in_nested_base64_message() -> Vec<u8> {
        let inner = with_attachment("application/octet-stream", &b64(EICAR.as_bytes()));
        with_attachment("message/rfc822", &b64(&inner))
    }

    fn plain(subject: &str, body: &str) -> Vec<u8> {
        format!(
            "From: a@x.example\r\nTo: b@y.example\r\nSubject: {subject}\r\n\
             Message-ID: <plain@x.example>\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn the_signature_is_the_canonical_68_byte_eicar_file() {
        assert_eq!(EICAR.len(), 68);
        assert_eq!(
            traces::sha256_hex(EICAR.as_bytes()),
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        );
    }

    #[test]
    fn the_signature_typo_misses_the_real_file_in_every_carrier() {
        let typo = ScanBugs {
            signature_typo: true,
            ..ScanBugs::default()
        };
        for raw in [
            plain("hello", EICAR),
            eicar_in_base64_attachment(),
            eicar_in_nested_base64_message(),
        ] {
            assert_eq!(scan(&raw).verdict, Verdict::Malware);
            assert_eq!(scan_with(&raw, typo).verdict, Verdict::Clean);
        }
    }

    #[test]
    fn eicar_in_a_plain_body_is_malware() {
        let report = scan(&plain("hello", &format!("look: {EICAR}")));
        assert_eq!(report.verdict, Verdict::Malware, "{report:?}");
    }

    #[test]
    fn eicar_in_a_base64_attachment_is_malware() {
        let raw = eicar_in_base64_attachment();
        assert!(!contains(&raw, EICAR.as_bytes()));
        let report = scan(&raw);
        assert_eq!(report.verdict, Verdict::Malware, "{report:?}");
    }

    #[test]
    fn eicar_in_a_quoted_printable_body_is_malware() {
        // A soft line break splits the string in the raw bytes.
        let (left, right) = EICAR.split_at(20);
        let raw = format!(
            "From: a@x.example\r\nSubject: qp\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
             {left}=\r\n{right}\r\n"
        );
        assert!(!contains(raw.as_bytes(), EICAR.as_bytes()));
        assert_eq!(scan(raw.as_bytes()).verdict, Verdict::Malware);
    }

    #[test]
    fn eicar_in_a_nested_base64_rfc822_part_is_malware() {
        let raw = eicar_in_nested_base64_message();
        assert!(!contains(&raw, EICAR.as_bytes()));
        let report = scan(&raw);
        assert_eq!(report.verdict, Verdict::Malware, "{report:?}");
    }

    #[test]
    fn eicar_nested_deeper_than_mail_parser_follows_is_still_malware() {
        let mut raw = eicar_in_base64_attachment();
        for _ in 0..6 {
            raw = with_attachment("message/rfc822", &b64(&raw));
        }
        let report = scan(&raw);
        assert_eq!(report.verdict, Verdict::Malware, "{report:?}");
    }

    #[test]
    fn eicar_nested_past_the_scanner_s_depth_is_not_called_clean() {
        // Beyond the depth the scanner opens, it cannot know what the
        // layers hold: fail closed, as for a message it could not scan.
        let nest = |mut raw: Vec<u8>, depth: usize| {
            for _ in 0..depth {
                raw = with_attachment("message/rfc822", &b64(&raw));
            }
            raw
        };
        for depth in [
            NESTING_MAX - 1,
            NESTING_MAX,
            NESTING_MAX + 1,
            NESTING_MAX + 4,
        ] {
            let report = scan(&nest(eicar_in_base64_attachment(), depth));
            assert_eq!(report.verdict, Verdict::Malware, "{depth}: {report:?}");
            let named = match depth <= NESTING_MAX {
                true => "EICAR test string",
                false => "not scannable",
            };
            assert!(report.reason.contains(named), "{depth}: {report:?}");
        }
        // The same without encoding the layers (each adds only its header,
        // so this one is a few kilobytes, well inside a size limit).
        let mut raw = eicar_in_base64_attachment();
        for _ in 0..NESTING_MAX + 1 {
            let mut layer = b"From: a@x.example\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n\
                Content-Type: message/rfc822\r\n\r\n"
                .to_vec();
            layer.extend_from_slice(&raw);
            raw = layer;
        }
        assert!(raw.len() < 16 * 1024, "{}", raw.len());
        assert_eq!(scan(&raw).verdict, Verdict::Malware);
        // Clean mail is judged by what it holds, until it is too deep.
        let clean = || plain("Lunch", "See you at noon.");
        let report = scan(&nest(clean(), NESTING_MAX));
        assert_eq!(report.verdict, Verdict::Clean, "{report:?}");
        let report = scan(&nest(clean(), NESTING_MAX + 1));
        assert_eq!(report.verdict, Verdict::Malware, "{report:?}");
    }

    #[test]
    fn the_skipping_variant_misses_eicar_in_a_base64_attachment() {
        let report = scan_skipping_encoded_attachments(&eicar_in_base64_attachment());
        assert_eq!(report.verdict, Verdict::Clean, "{report:?}");
        let report = scan_skipping_encoded_attachments(&eicar_in_nested_base64_message());
        assert_eq!(report.verdict, Verdict::Clean, "{report:?}");
    }

    #[test]
    fn the_skipping_variant_still_catches_plain_eicar() {
        let report = scan_skipping_encoded_attachments(&plain("hi", EICAR));
        assert_eq!(report.verdict, Verdict::Malware);
        // It skips base64 attachments only: not a base64 body, not an
        // attachment in another encoding.
        let body = format!(
            "From: a@x.example\r\nSubject: b64\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64(EICAR.as_bytes())
        );
        let (left, right) = EICAR.split_at(20);
        let attachment = String::from_utf8(with_attachment("application/octet-stream", ""))
            .unwrap()
            .replace(
                "Content-Transfer-Encoding: base64\r\n\r\n",
                &format!(
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n{left}=\r\n{right}\r\n"
                ),
            );
        for raw in [body, attachment] {
            assert!(!contains(raw.as_bytes(), EICAR.as_bytes()), "{raw}");
            let report = scan_skipping_encoded_attachments(raw.as_bytes());
            assert_eq!(report.verdict, Verdict::Malware, "{raw}");
        }
    }

    #[test]
    fn a_spammy_message_is_spam() {
        let raw = plain(
            "YOU ARE A WINNER!!!",
            "Click here to claim your prize from the lottery. Free money!",
        );
        let report = scan(&raw);
        assert_eq!(report.verdict, Verdict::Spam, "{report:?}");
    }

    #[test]
    fn each_spam_rule_adds_its_points_at_its_threshold() {
        let score = |subject: &str, body: &str| {
            let raw = plain(subject, body);
            let message = MessageParser::default().parse(&raw).expect("parses");
            spam_score(&message).0
        };
        assert_eq!(score("Hello there", "A nice day."), 0);
        // Three or more '!' in the subject.
        assert_eq!(score("Hi!!", "x"), 0);
        assert_eq!(score("Hi!!!", "x"), 2);
        // An all-caps subject of at least six letters.
        assert_eq!(score("URGEN", "x"), 0);
        assert_eq!(score("URGENT", "x"), 2);
        assert_eq!(score("URGENT news", "x"), 0);
        // Ten or more '!' in the bodies.
        assert_eq!(score("Hi", &"!".repeat(9)), 0);
        assert_eq!(score("Hi", &"!".repeat(10)), 1);
        // Each phrase, wherever it stands, the last word included.
        assert_eq!(score("Hi", "please send a wire transfer"), 3);
        assert_eq!(score("Lottery", "wire transfer today"), 6);
        assert_eq!(normalise("Wire  Transfer!"), " wire transfer ");
    }

    #[test]
    fn a_single_suspicious_word_is_not_spam() {
        let raw = plain(
            "Town news",
            "The state lottery funded the new library. Contact now to volunteer.",
        );
        let report = scan(&raw);
        assert_eq!(report.verdict, Verdict::Clean, "{report:?}");
    }

    #[test]
    fn an_ordinary_message_is_clean() {
        let raw = plain(
            "Minutes of Tuesday's meeting",
            "Hi all,\r\nattached are the minutes.\r\n.\r\nThanks",
        );
        let report = scan(&raw);
        assert_eq!(report.verdict, Verdict::Clean, "{report:?}");
        let report = scan(&with_attachment("application/pdf", &b64(&[0u8, 1, 2, 255])));
        assert_eq!(report.verdict, Verdict::Clean, "{report:?}");
    }

    #[test]
    fn unparseable_input_is_clean_unless_it_holds_eicar() {
        let report = scan(b"");
        assert_eq!(report.verdict, Verdict::Clean);
        assert_eq!(report.reason, "unparseable");
        let mut raw = vec![0u8, 0xff, b'\n'];
        raw.extend_from_slice(EICAR.as_bytes());
        assert_eq!(scan(&raw).verdict, Verdict::Malware);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A fixed splitmix64 stream: deterministic, yet varied enough to reach
        // mail-parser's recovery paths for broken MIME.
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let pieces: &[&[u8]] = &[
            b"Content-Type: multipart/mixed; boundary=B\r\n",
            b"Content-Type: message/rfc822\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"\r\n",
            b"--B\r\n",
            b"--B--\r\n",
            b"Subject: x\r\n",
            b"=\r\n",
            b"QUJD\r\n",
            b"\n",
            b"\xff\xfe",
            b" ",
        ];
        for _ in 0..2000 {
            let mut raw = Vec::new();
            for _ in 0..(next() % 40) {
                let piece = pieces[(next() % pieces.len() as u64) as usize];
                raw.extend_from_slice(piece);
            }
            let _ = scan(&raw);
            let _ = scan_skipping_encoded_attachments(&raw);
        }
        let mut nested = b"Subject: x\r\n\r\nbody\r\n".to_vec();
        for _ in 0..200 {
            let mut outer = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
            outer.extend_from_slice(&nested);
            nested = outer;
        }
        let _ = scan(&nested);
    }
}
