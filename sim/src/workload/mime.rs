//! Deterministic, realistic test messages for the simulated senders.
//!
//! Every byte of a message is a function of its [`MessageSpec`]: all variation
//! comes from the two seeds through a local splitmix64, so a failing run
//! replays with identical mail. The messages are shaped to poke at the
//! gateway's weak spots: lines starting with "." (including a lone "."), long
//! lines, the hostile plain shapes of [`PLAIN_SHAPES`], and the canonical
//! EICAR file in several carriers. Plain and spam messages are written out
//! here byte by byte, because their point is raw bytes a MIME library would
//! (rightly) encode away; the multipart kinds are built with `mail-builder`
//! (`multipart.rs`). Each [`MessageKind`] is what
//! the workload says it is (clean, spam, malware) because it built it; the
//! gateway's scanner is judged against that, never the other way round.

use serde::{Deserialize, Serialize};

use crate::workload::multipart;

/// What a generated message is, and so what the scanner must decide about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// text/plain. Clean.
    Plain,
    /// multipart/mixed with text and a base64 binary attachment. Clean.
    MultipartAttachment,
    /// EICAR inside a base64 attachment. Malware.
    Eicar,
    /// EICAR inside a nested message/rfc822 part, base64. Malware.
    EicarZipLike,
    /// Classic spam phrasing with a shouting subject. Spam.
    Spam,
    /// multipart/alternative with text and HTML. Clean.
    Html,
}

/// Everything a message depends on.
#[derive(Clone, Debug)]
pub struct MessageSpec<'a> {
    /// Without angle brackets, e.g. "m17.s42@senders.example".
    pub message_id: &'a str,
    pub from: &'a str,
    pub to: &'a [String],
    pub subject_seed: u64,
    pub body_seed: u64,
    pub kind: MessageKind,
    /// Rough size of the body text, or of the attachment for attachment kinds.
    pub body_bytes_approx: usize,
    pub date_rfc2822: &'a str,
}

/// The EICAR test string, spelled out here so the generator does not depend
/// on the scanner it is meant to test.
/// It is the canonical 68-byte file (its sha256 is checked in a test).
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Builds the message with CRLF line endings.
pub fn build_message(spec: &MessageSpec) -> Vec<u8> {
    let mut subject_rng = SplitMix64::new(spec.subject_seed);
    let mut body_rng = SplitMix64::new(spec.body_seed);
    // Boundaries mix both seeds so that changing either changes the bytes of
    // every multipart kind, as real mailers' random boundaries would.
    let mut boundary_rng = SplitMix64::new(spec.subject_seed ^ spec.body_seed.rotate_left(29));

    let subject = match spec.kind {
        MessageKind::Spam => spam_subject(&mut subject_rng),
        _ => ordinary_subject(&mut subject_rng),
    };
    let mut out = top_headers(spec, &subject);
    let size = spec.body_bytes_approx;

    match spec.kind {
        MessageKind::Plain => plain(&mut out, &mut body_rng, size),
        MessageKind::Spam => {
            out.push_str("Content-Type: text/plain; charset=us-ascii\r\n");
            out.push_str("Content-Transfer-Encoding: 7bit\r\n\r\n");
            out.push_str(&spam_body(&mut body_rng, size));
        }
        MessageKind::Html => {
            let text = prose(&mut body_rng, size / 2);
            let html = html_of(&subject, &text);
            let body = multipart::multipart(
                "alternative",
                boundary(&mut boundary_rng),
                vec![
                    multipart::text("plain", text),
                    multipart::text("html", html),
                ],
            );
            return multipart::message(spec, &subject, body);
        }
        MessageKind::MultipartAttachment => {
            let b = boundary(&mut boundary_rng);
            let text = prose(&mut body_rng, (size / 4).max(80));
            let name = format!("report-{}.pdf", body_rng.below(10_000));
            let mut data = b"%PDF-1.4\n".to_vec();
            while data.len() < (size * 3 / 4).max(64) {
                data.extend_from_slice(&body_rng.next().to_le_bytes());
            }
            let body = multipart::multipart(
                "mixed",
                b,
                vec![
                    multipart::text("plain", text),
                    multipart::attachment("application/pdf", name, data),
                ],
            );
            return multipart::message(spec, &subject, body);
        }
        MessageKind::Eicar => {
            let b = boundary(&mut boundary_rng);
            let text = prose(&mut body_rng, size.max(80));
            let name = format!("setup-{}.com", body_rng.below(10_000));
            let carrier = body_rng.pick(&multipart::EICAR_CARRIERS);
            let body = multipart::multipart(
                "mixed",
                b,
                vec![
                    multipart::text("plain", text),
                    multipart::eicar(carrier, name),
                ],
            );
            return multipart::message(spec, &subject, body);
        }
        MessageKind::EicarZipLike => {
            let (inner_b, outer_b) = (boundary(&mut boundary_rng), boundary(&mut boundary_rng));
            let inner_text = prose(&mut body_rng, 200);
            let fwd_id = format!("fwd.{}", spec.message_id);
            let fwd_to = [spec.from.to_string()];
            let inner = multipart::message(
                &MessageSpec {
                    message_id: &fwd_id,
                    to: &fwd_to,
                    ..spec.clone()
                },
                &format!("Fwd: {subject}"),
                multipart::multipart(
                    "mixed",
                    inner_b,
                    vec![
                        multipart::text("plain", inner_text),
                        multipart::eicar("base64-attachment", "invoice.com".to_string()),
                    ],
                ),
            );
            let text = prose(&mut body_rng, size.max(80));
            let body = multipart::multipart(
                "mixed",
                outer_b,
                vec![multipart::text("plain", text), multipart::forwarded(inner)],
            );
            return multipart::message(spec, &subject, body);
        }
    }
    out.into_bytes()
}

/// The hostile shapes a plain message takes, one drawn per message, each a
/// place where a gateway's SMTP or MIME handling is known to go wrong: an
/// 8-bit UTF-8 body and header field (RFC 6152, RFC 6532), lines of exactly
/// 998 octets (RFC 5322's limit), NUL bytes, an empty body, and a long
/// header field folded over many lines. The rest are ordinary prose, which
/// has dot-leading lines and a lone "." of its own.
pub const PLAIN_SHAPES: [&str; 6] = [
    "utf-8",
    "998-octet-lines",
    "nul-bytes",
    "empty-body",
    "long-folded-header",
    "ordinary",
];

fn plain(out: &mut String, rng: &mut SplitMix64, size: usize) {
    const SEVEN_BIT: &str =
        "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n";
    match PLAIN_SHAPES[rng.below(PLAIN_SHAPES.len() as u64) as usize] {
        "utf-8" => {
            out.push_str("X-Greeting: Grüße aus Köln — naïve café, 東京より\r\n");
            out.push_str(
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
            );
            const LINES: &[&str] = &[
                "Grüße an das ganze Team, bis Donnerstag.",
                "Les résultats du trimestre sont joints — à bientôt.",
                "会議の議事録を添付します。",
                ".Überblick: Zahlen folgen.",
                "Ελέγξτε τα στοιχεία παρακαλώ.",
            ];
            while out.len() < size.max(1) + 200 {
                out.push_str(rng.pick(LINES));
                out.push_str("\r\n");
                out.push_str(&prose(rng, 80));
            }
        }
        "998-octet-lines" => {
            out.push_str(SEVEN_BIT);
            out.push_str("\r\n");
            out.push_str(&prose(rng, size / 2));
            for _ in 0..1 + rng.below(3) {
                // Exactly 998 octets before the CRLF, some led by a dot
                // (which stuffing makes 999 on the wire, as RFC 5321 allows).
                let lead = if rng.below(2) == 0 { "." } else { "x" };
                out.push_str(lead);
                out.push_str(&"y".repeat(997));
                out.push_str("\r\n");
            }
        }
        "nul-bytes" => {
            out.push_str(SEVEN_BIT);
            out.push_str("\r\n");
            out.push_str(&prose(rng, size / 2));
            out.push_str("A NUL byte follows: \0 and two more: \0\0.\r\n");
            out.push_str(&prose(rng, size / 2));
        }
        "empty-body" => {
            out.push_str(SEVEN_BIT);
            out.push_str("\r\n");
        }
        "long-folded-header" => {
            // A References field of many ids, one per folded line: far
            // beyond one line's 998 octets in all.
            out.push_str("References:");
            for i in 0..20 + rng.below(40) {
                out.push_str(&format!(
                    " <thread.{i}.{:016x}@senders.example>\r\n",
                    rng.next()
                ));
            }
            out.push_str(SEVEN_BIT);
            out.push_str("\r\n");
            out.push_str(&prose(rng, size));
        }
        _ => {
            out.push_str(SEVEN_BIT);
            out.push_str("\r\n");
            out.push_str(&prose(rng, size));
        }
    }
}

fn top_headers(spec: &MessageSpec, subject: &str) -> String {
    // One recipient per folded line keeps long lists under the 998-octet
    // line limit of RFC 5322.
    let to = if spec.to.is_empty() {
        "undisclosed-recipients:;".to_string()
    } else {
        spec.to
            .iter()
            .map(|r| one_line(r))
            .collect::<Vec<_>>()
            .join(",\r\n ")
    };
    format!(
        "Date: {}\r\n\
         From: {}\r\n\
         To: {to}\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{}>\r\n\
         MIME-Version: 1.0\r\n\
         X-Mailer: mailsim-workload/1\r\n",
        one_line(spec.date_rfc2822),
        one_line(spec.from),
        one_line(spec.message_id),
    )
}

fn boundary(rng: &mut SplitMix64) -> String {
    // "=_" cannot occur in base64 or in the generated prose, so the boundary
    // never collides with content.
    format!("=_mailsim_{:016x}", rng.next())
}

/// Vocabulary with no spam trigger in it, so ordinary kinds score Clean.
const WORDS: &[&str] = &[
    "the",
    "quarterly",
    "report",
    "meeting",
    "schedule",
    "budget",
    "review",
    "team",
    "project",
    "deadline",
    "draft",
    "notes",
    "agenda",
    "customer",
    "invoice",
    "shipment",
    "update",
    "planning",
    "office",
    "weekly",
    "figures",
    "summary",
    "proposal",
    "contract",
    "feedback",
    "release",
    "server",
    "backup",
    "migration",
    "training",
    "we",
    "should",
    "discuss",
    "before",
    "after",
    "on",
    "for",
    "with",
    "and",
    "a",
    "of",
    "to",
    "is",
    "are",
    "next",
    "last",
    "please",
    "confirm",
    "attached",
    "numbers",
    "version",
    "changes",
    "minor",
    "details",
    "Monday",
    "Thursday",
    "warehouse",
    "support",
    "ticket",
    "roadmap",
    "estimate",
    "approved",
    "pending",
];

/// Lines that start with a dot, so that SMTP dot-stuffing (RFC 5321 §4.5.2)
/// is exercised; the lone "." would end DATA early if left unstuffed.
const DOT_LINES: &[&str] = &[
    ".",
    "..",
    ". (see the previous note)",
    ".hidden file names are listed below",
    "...and the rest follows next week",
];

/// Plain-text paragraphs of about `target` bytes, wrapped at 72 columns,
/// with occasional dot-leading lines and occasional single long lines.
fn prose(rng: &mut SplitMix64, target: usize) -> String {
    let mut out = String::new();
    loop {
        let roll = rng.below(10);
        if roll < 3 {
            out.push_str(rng.pick(DOT_LINES));
            out.push_str("\r\n");
        }
        // Some mailers never wrap; a long line (still under the 998-octet
        // limit) checks that the gateway's line handling copes.
        let wrap = if roll == 9 { 900 } else { 72 };
        let words = 20 + rng.below(60) as usize;
        let mut line = String::new();
        for i in 0..words {
            let mut word = rng.pick(WORDS).to_string();
            if i == 0 {
                word = capitalise(&word);
            }
            if !line.is_empty() && line.len() + 1 + word.len() > wrap {
                out.push_str(&line);
                out.push_str("\r\n");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
        line.push('.');
        out.push_str(&line);
        out.push_str("\r\n");
        if out.len() >= target {
            return out;
        }
        out.push_str("\r\n");
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

fn ordinary_subject(rng: &mut SplitMix64) -> String {
    const TEMPLATES: &[&str] = &[
        "Quarterly report for {}",
        "Re: {} follow-up",
        "Notes from the {} meeting",
        "Fwd: {} schedule",
        "Draft {} proposal",
        "Question about the {} budget",
    ];
    const TOPICS: &[&str] = &[
        "marketing",
        "warehouse",
        "support",
        "release",
        "migration",
        "training",
        "finance",
        "design",
    ];
    let template = rng.pick(TEMPLATES);
    let topic = rng.pick(TOPICS);
    format!(
        "{} [#{}]",
        template.replace("{}", topic),
        rng.below(100_000)
    )
}

fn spam_subject(rng: &mut SplitMix64) -> String {
    // Each one is ALL CAPS with "!!!" and a trigger phrase: 7 points alone.
    const SUBJECTS: &[&str] = &[
        "YOU ARE A WINNER!!!",
        "CLAIM YOUR PRIZE TODAY!!!",
        "FREE MONEY WAITING FOR YOU!!!",
        "CRYPTO GIVEAWAY ENDS TONIGHT!!!",
        "LOTTERY RESULTS: ACT NOW!!!",
    ];
    format!("{} REF {}", rng.pick(SUBJECTS), rng.below(100_000))
}

fn spam_body(rng: &mut SplitMix64, target: usize) -> String {
    const LINES: &[&str] = &[
        "Congratulations, you have been selected as the lottery winner!",
        "Click here to claim your prize before it expires!",
        "This is free money, 100% free and risk-free!",
        "Join the crypto giveaway and double your coins!",
        "Send a small wire transfer fee to release the unclaimed funds!",
        "Cheap viagra shipped overnight, act now!",
    ];
    let mut out = String::new();
    while out.len() < target.max(1) {
        out.push_str(rng.pick(LINES));
        out.push_str("\r\n");
        if rng.below(4) == 0 {
            out.push_str(rng.pick(DOT_LINES));
            out.push_str("\r\n");
        }
    }
    out
}

fn html_of(subject: &str, text: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\r\n<html>\r\n<head><title>{}</title></head>\r\n<body>\r\n",
        escape_html(subject)
    );
    for paragraph in text.split("\r\n\r\n") {
        out.push_str("<p>\r\n");
        for line in paragraph.lines() {
            out.push_str(&escape_html(line));
            out.push_str("\r\n");
        }
        out.push_str("</p>\r\n");
    }
    out.push_str("</body>\r\n</html>\r\n");
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Strips CR and LF so caller-supplied fields cannot break the header block.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to make
/// varied text; kept local so no dependency upgrade can change the bytes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Slightly biased for large `n`; irrelevant for picking words.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders};

    const KINDS: [MessageKind; 6] = [
        MessageKind::Plain,
        MessageKind::MultipartAttachment,
        MessageKind::Eicar,
        MessageKind::EicarZipLike,
        MessageKind::Spam,
        MessageKind::Html,
    ];

    fn build(kind: MessageKind, subject_seed: u64, body_seed: u64, size: usize) -> Vec<u8> {
        let to = vec![
            "bob@rcpt.example".to_string(),
            "carol@rcpt.example".to_string(),
        ];
        build_message(&MessageSpec {
            message_id: "m17.s42@senders.example",
            from: "alice@senders.example",
            to: &to,
            subject_seed,
            body_seed,
            kind,
            body_bytes_approx: size,
            date_rfc2822: "Mon, 01 Jan 2024 00:00:00 +0000",
        })
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn the_same_spec_gives_the_same_bytes() {
        for kind in KINDS {
            assert_eq!(build(kind, 1, 2, 2000), build(kind, 1, 2, 2000), "{kind:?}");
        }
    }

    #[test]
    fn different_seeds_give_different_bytes() {
        for kind in KINDS {
            let base = build(kind, 1, 2, 2000);
            assert_ne!(base, build(kind, 3, 2, 2000), "subject seed, {kind:?}");
            assert_ne!(base, build(kind, 1, 4, 2000), "body seed, {kind:?}");
        }
    }

    #[test]
    fn every_kind_parses_with_the_expected_message_id_and_headers() {
        for kind in KINDS {
            for seed in 0..10 {
                let raw = build(kind, seed, seed * 7 + 1, 1500);
                let message = MessageParser::default()
                    .parse(&raw)
                    .unwrap_or_else(|| panic!("{kind:?} seed {seed} does not parse"));
                assert_eq!(message.message_id(), Some("m17.s42@senders.example"));
                assert!(message.subject().is_some_and(|s| !s.is_empty()));
                assert!(message.date().is_some(), "{kind:?}: date");
                let to = message.to().map(|a| a.iter().count());
                assert_eq!(to, Some(2), "{kind:?}: recipients");
            }
        }
    }

    #[test]
    fn plain_messages_take_every_hostile_shape_across_seeds() {
        let bodies: Vec<Vec<u8>> = (0..60)
            .map(|seed| build(MessageKind::Plain, seed, seed * 7 + 1, 1500))
            .collect();
        let any = |what: &dyn Fn(&[u8]) -> bool| bodies.iter().any(|b| what(b));
        assert!(any(
            &|b| std::str::from_utf8(b).is_ok_and(|t| t.contains("Köln"))
        ));
        // 998 octets and the CR.
        assert!(any(&|b| b.split(|&c| c == b'\n').any(|l| l.len() == 999)));
        assert!(any(&|b| b.contains(&0)));
        assert!(any(&|b| b.ends_with(b"\r\n\r\n")));
        assert!(any(&|b| contains(b, b"References: <thread.0.")));
    }

    #[test]
    fn the_malware_sample_is_the_canonical_eicar_file() {
        assert_eq!(EICAR.len(), 68);
        assert_eq!(
            traces::sha256_hex(EICAR),
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        );
    }

    #[test]
    fn base64_malware_kinds_hide_eicar_from_a_raw_byte_search() {
        for seed in 0..20 {
            let nested = build(MessageKind::EicarZipLike, seed, seed + 1, 500);
            assert!(!contains(&nested, EICAR), "seed {seed}");
            let raw = build(MessageKind::Eicar, seed, seed + 1, 500);
            let message = MessageParser::default().parse(&raw).expect("parses");
            let part = message.attachment(0).expect("the carrier");
            let quoted = part.content_transfer_encoding() == Some("quoted-printable");
            assert_eq!(contains(&raw, EICAR), quoted, "seed {seed}");
        }
    }

    #[test]
    fn some_plain_bodies_have_dot_leading_lines_including_a_lone_dot() {
        let bodies: Vec<Vec<u8>> = (0..30)
            .map(|seed| build(MessageKind::Plain, seed, seed, 2000))
            .collect();
        let with_dot = bodies.iter().filter(|b| contains(b, b"\r\n.")).count();
        assert!(with_dot > 0, "no dot-leading line in 30 seeds");
        assert!(bodies.iter().any(|b| contains(b, b"\r\n.\r\n")));
    }

    #[test]
    fn every_line_ends_in_crlf_and_stays_under_998_octets() {
        for kind in KINDS {
            for seed in 0..10 {
                let raw = build(kind, seed, seed + 100, 5000);
                assert!(raw.ends_with(b"\r\n"), "{kind:?}");
                for line in raw.split(|&b| b == b'\n') {
                    assert!(
                        line.is_empty() || line.ends_with(b"\r"),
                        "{kind:?}: bare LF"
                    );
                    assert!(line.len() <= 999, "{kind:?}: {} octets", line.len());
                    assert!(!line[..line.len().saturating_sub(1)].contains(&b'\r'));
                }
            }
        }
    }

    #[test]
    fn body_size_tracks_the_requested_approximation() {
        for size in [1_000, 10_000, 100_000] {
            for kind in [MessageKind::Plain, MessageKind::MultipartAttachment] {
                let raw = build(kind, 1, 2, size);
                let len = raw.len();
                if raw.ends_with(b"\r\n\r\n") {
                    continue; // the empty-body shape
                }
                assert!(
                    len >= size && len < size * 2 + 2_000,
                    "{kind:?} {size}: {len}"
                );
            }
        }
    }

    #[test]
    fn every_eicar_carrier_decodes_back_to_the_file() {
        let mut carriers = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let raw = build(MessageKind::Eicar, seed, seed + 1, 500);
            let message = MessageParser::default().parse(&raw).expect("parses");
            let part = message.attachment(0).expect("one attachment");
            assert_eq!(part.contents(), EICAR, "seed {seed}");
            let encoding = part.content_transfer_encoding().unwrap_or("").to_string();
            let inline = contains(&raw, b"Content-Disposition: inline");
            carriers.insert((encoding, inline));
        }
        // base64 attachment, base64 inline, quoted-printable attachment.
        assert_eq!(carriers.len(), 3, "{carriers:?}");
    }

    #[test]
    fn the_zip_like_kind_nests_a_well_formed_message_holding_eicar() {
        let raw = build(MessageKind::EicarZipLike, 1, 2, 500);
        let message = MessageParser::default().parse(&raw).expect("parses");
        let forwarded = message
            .attachment(0)
            .and_then(|part| part.message())
            .expect("a nested message");
        assert_eq!(forwarded.message_id(), Some("fwd.m17.s42@senders.example"));
        let content_types = forwarded
            .headers()
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case("content-type"))
            .count();
        assert_eq!(content_types, 1);
        let payload = forwarded.attachment(0).expect("an attachment");
        assert_eq!(payload.contents(), EICAR);
    }

    #[test]
    fn message_kind_serialises_in_snake_case() {
        let json = serde_json::to_string(&MessageKind::EicarZipLike).expect("serialises");
        assert_eq!(json, "\"eicar_zip_like\"");
        let back: MessageKind = serde_json::from_str("\"multipart_attachment\"").expect("parses");
        assert_eq!(back, MessageKind::MultipartAttachment);
    }

    #[test]
    fn an_empty_recipient_list_still_gives_a_valid_to_header() {
        let raw = build_message(&MessageSpec {
            message_id: "x@y",
            from: "a@b",
            to: &[],
            subject_seed: 0,
            body_seed: 0,
            kind: MessageKind::Plain,
            body_bytes_approx: 10,
            date_rfc2822: "Mon, 01 Jan 2024 00:00:00 +0000",
        });
        assert!(contains(&raw, b"To: undisclosed-recipients:;\r\n"));
        assert_eq!(
            MessageParser::default()
                .parse(&raw)
                .and_then(|m| m.message_id().map(str::to_string))
                .as_deref(),
            Some("x@y")
        );
    }
}
