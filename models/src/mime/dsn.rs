//! Delivery status notifications (RFC 3464 inside an RFC 6522 multipart/report).
//!
//! When delivery to some recipients fails for good, the gateway owes the
//! sender exactly one DSN. [`build_dsn`] writes it byte-for-byte
//! deterministically (the caller supplies the date and Message-ID), so
//! replays of a simulation produce identical mail. It returns only the
//! original's header block, never its body: a rejected message may be malware
//! and must not be bounced back with its payload.
//!
//! A DSN is bounded whatever it reports on (at most [`bytes_max`]): it is
//! spooled and replicated like any message, and a DSN no peer would take a
//! copy of is never sent. So the original's header block is cut at
//! [`RETURNED_HEADERS_BYTES_MAX`], and a server's refusal is kept to
//! [`DIAGNOSTIC_BYTES_MAX`] ([`bounded_diagnostic`]) where the gateway
//! records it.
//!
//! The gateway never reads a DSN: it knows one by its null reverse-path
//! (RFC 3461 §6.2) and its own entries. The reader here, [`parse_dsn`], is
//! the tests' (a DSN built must read back as what it reports); the
//! simulated senders, which judge the gateway, have a reader of their own.

use mail_parser::{HeaderName, HeaderValue, Message, MessageParser};
#[cfg(test)]
use mail_parser::{MimeHeaders, PartType};

#[cfg(test)]
use super::verdict::parse_guarded;

/// One recipient the DSN reports on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRecipient {
    pub rcpt: String,
    /// RFC 3463 enhanced status code, e.g. "5.1.1" or "4.4.7".
    pub status: String,
    /// RFC 3464 Diagnostic-Code value, e.g. "smtp; 550 5.1.1 no such user".
    pub diagnostic: String,
    /// RFC 3464 Action, normally "failed".
    pub action: String,
}

/// The most of a refusal a recipient's diagnostic keeps: RFC 5321
/// §4.5.3.1.5 allows a reply line 512 octets, and the first line's worth
/// says what happened. A multi-line refusal may run to tens of KiB of
/// policy text; kept whole for three recipients, it made a DSN bigger than
/// any peer would take a copy of, so the DSN was never sent and the
/// recipients' bounces were lost (`refusal-text-kept-whole`).
pub const DIAGNOSTIC_BYTES_MAX: usize = 512;

/// The most of the original's header block a DSN returns, as Postfix's
/// `bounce_size_limit` (50,000 bytes) bounds what it returns.
pub const RETURNED_HEADERS_BYTES_MAX: usize = 50_000;

/// The longest address a DSN names that ingress lets in: its command
/// line's limit.
const ADDRESS_BYTES_MAX: usize = crate::smtp::session::INGRESS_LINE_BYTES_MAX;

/// What a DSN adds around its parts: the top header fields (our host
/// name, the DSN's Message-ID, the sender's address, the date), the part
/// headers and the boundaries between them.
const FRAME_BYTES_MAX: usize = 4_096;

/// A recipient's lines beside its address and diagnostic, each twice (the
/// human part and the delivery report): the field names, the action, the
/// status code.
const RECIPIENT_LINES_BYTES_MAX: usize = 256;

/// The largest DSN [`build_dsn`] makes about `recipients` recipients
/// whose diagnostics went through [`bounded_diagnostic`].
pub fn bytes_max(recipients: usize) -> usize {
    let per_recipient = 2 * (ADDRESS_BYTES_MAX + DIAGNOSTIC_BYTES_MAX) + RECIPIENT_LINES_BYTES_MAX;
    FRAME_BYTES_MAX + RETURNED_HEADERS_BYTES_MAX + recipients * per_recipient
}

/// `diagnostic` cut to [`DIAGNOSTIC_BYTES_MAX`] at a character boundary,
/// ending in "..." where it was cut.
pub fn bounded_diagnostic(diagnostic: &str) -> String {
    const CUT_MARK: &str = "...";
    if diagnostic.len() <= DIAGNOSTIC_BYTES_MAX {
        return diagnostic.to_string();
    }
    let end = diagnostic.floor_char_boundary(DIAGNOSTIC_BYTES_MAX - CUT_MARK.len());
    format!("{}{CUT_MARK}", &diagnostic[..end])
}

/// Everything a DSN depends on, so that building one is a pure function.
#[derive(Clone, Debug)]
pub struct DsnRequest<'a> {
    pub reporting_mta: &'a str,
    /// With angle brackets, e.g. "<dsn.abc@gw-aws-us-east-1-0>".
    pub dsn_message_id: &'a str,
    pub original_sender: &'a str,
    pub original_message: &'a [u8],
    pub failed: &'a [FailedRecipient],
    /// The caller passes a fixed, deterministic date string.
    pub date_rfc2822: &'a str,
}

/// What a received DSN says, enough to match it to the message it is about.
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsnInfo {
    /// The original Message-ID, without angle brackets.
    pub about_message_id: Option<String>,
    pub final_recipients: Vec<String>,
}

/// Builds the DSN with CRLF line endings.
pub fn build_dsn(req: &DsnRequest) -> Vec<u8> {
    let mta = one_line(req.reporting_mta);
    let headers = header_block(req.original_message);

    let mut human = String::new();
    human.push_str(&format!("This is the mail system at host {mta}.\r\n\r\n"));
    human.push_str(
        "Your message could not be delivered to one or more recipients.\r\n\
         It is attached below without its body.\r\n\r\n",
    );
    for f in req.failed {
        human.push_str(&format!(
            "<{}>: {}\r\n",
            one_line(&f.rcpt),
            one_line(&f.diagnostic)
        ));
    }

    let mut status = format!("Reporting-MTA: dns; {mta}\r\n");
    for f in req.failed {
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\nDiagnostic-Code: {}\r\n",
            one_line(&f.rcpt),
            one_line(&f.action),
            one_line(&f.status),
            one_line(&f.diagnostic),
        ));
    }

    let boundary = pick_boundary(
        req.dsn_message_id,
        &[human.as_bytes(), status.as_bytes(), &headers],
    );

    let mut out = Vec::with_capacity(1024 + headers.len());
    let top = format!(
        "From: MAILER-DAEMON@{mta}\r\n\
         To: {}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: {}\r\n\
         Date: {}\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated message.\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Description: Notification\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         {human}\r\n\
         --{boundary}\r\n\
         Content-Description: Delivery report\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         {status}\r\n\
         --{boundary}\r\n\
         Content-Description: Undelivered Message Headers\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n",
        one_line(req.original_sender),
        one_line(req.dsn_message_id),
        one_line(req.date_rfc2822),
    );
    out.extend_from_slice(top.as_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// Recognises a DSN (multipart/report; report-type=delivery-status) and extracts what it reports on; None if it is not a DSN.
#[cfg(test)]
pub fn parse_dsn(raw: &[u8]) -> Option<DsnInfo> {
    let message = parse_guarded(raw)?;
    if !is_report(&message) {
        return None;
    }
    let mut info = DsnInfo {
        about_message_id: None,
        final_recipients: Vec::new(),
    };
    for part in message.parts.iter().skip(1) {
        if part.is_content_type("message", "delivery-status") {
            info.final_recipients
                .extend(final_recipients(part.contents()));
        } else if info.about_message_id.is_none() {
            // RFC 6522 says text/rfc822-headers, but many MTAs return the
            // whole original as message/rfc822; accept either.
            info.about_message_id = match &part.body {
                PartType::Message(original) => id_of(original),
                _ if part.is_content_type("text", "rfc822-headers")
                    || part.is_content_type("message", "rfc822") =>
                {
                    message_id(part.contents())
                }
                _ => None,
            };
        }
    }
    Some(info)
}

/// True if `raw` is itself a DSN by its content (multipart/report
/// delivery-status).
#[cfg(test)]
pub fn is_dsn(raw: &[u8]) -> bool {
    parse_headers_guarded(raw).is_some_and(|m| is_report(&m))
}

/// The Message-ID header of a message, without angle brackets.
pub fn message_id(raw: &[u8]) -> Option<String> {
    id_of(&parse_headers_guarded(raw)?)
}

fn parse_headers_guarded(raw: &[u8]) -> Option<Message<'_>> {
    // Same reasoning as parse_guarded: hostile bytes must not panic us.
    let parser = MessageParser::default();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse_headers(raw)))
        .ok()
        .flatten()
}

#[cfg(test)]
fn is_report(message: &Message<'_>) -> bool {
    message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("delivery-status"))
    })
}

fn id_of(message: &Message<'_>) -> Option<String> {
    // Several ids in one header is malformed; the first is the best guess.
    let id = match message.header(HeaderName::MessageId)? {
        HeaderValue::Text(id) => id.as_ref(),
        HeaderValue::TextList(ids) => ids.first()?.as_ref(),
        _ => return None,
    };
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    (!id.is_empty()).then(|| id.to_string())
}

/// Final-Recipient values of a message/delivery-status body, address type removed.
#[cfg(test)]
fn final_recipients(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut fields: Vec<String> = Vec::new();
    for line in text.lines() {
        // Folded continuation lines belong to the previous field (RFC 3464 §2.1).
        if line.starts_with([' ', '\t'])
            && let Some(last) = fields.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim());
        } else {
            fields.push(line.to_string());
        }
    }
    fields
        .iter()
        .filter_map(|field| {
            let (name, value) = field.split_once(':')?;
            if !name.trim().eq_ignore_ascii_case("final-recipient") {
                return None;
            }
            let address = value.split_once(';').map_or(value, |(_, a)| a).trim();
            let address = address.trim_start_matches('<').trim_end_matches('>');
            (!address.is_empty()).then(|| address.to_string())
        })
        .collect()
}

/// The original's header fields, CRLF-terminated, stopping at the first line
/// that is not a header field or a continuation. Stopping early, rather than
/// trusting the first blank line, keeps a malformed message's body out even
/// when it has no blank line before it. Whole lines only, and no more than
/// [`RETURNED_HEADERS_BYTES_MAX`] of them.
fn header_block(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut lines = raw.split(|&b| b == b'\n');
    let mut have_field = false;
    for line in lines.by_ref() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let is_continuation = have_field && matches!(line.first(), Some(b' ' | b'\t'));
        if !(is_continuation || is_field_start(line)) {
            break;
        }
        if out.len() + line.len() + 2 > RETURNED_HEADERS_BYTES_MAX {
            break;
        }
        have_field = true;
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn is_field_start(line: &[u8]) -> bool {
    // RFC 5322 §2.2: field names are printable US-ASCII other than ':'.
    match line.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => line[..colon].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

/// A boundary derived from the DSN's Message-ID, made longer until it occurs
/// in none of the parts: a hostile original could otherwise forge a
/// delimiter line in its returned headers.
fn pick_boundary(dsn_message_id: &str, parts: &[&[u8]]) -> String {
    let mut hash = fnv1a(dsn_message_id.as_bytes());
    let mut boundary = format!("=_dsn_{hash:016x}");
    while parts
        .iter()
        .any(|p| p.windows(boundary.len()).any(|w| w == boundary.as_bytes()))
    {
        hash = fnv1a(&hash.to_le_bytes());
        boundary.push_str(&format!("{:04x}", hash & 0xffff));
    }
    boundary
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Strips CR and LF so no caller-supplied text can inject header lines.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::verdict::{EICAR, Verdict, scan};

    fn original() -> Vec<u8> {
        format!(
            "From: alice@senders.example\r\n\
             To: bob@rcpt.example, carol@rcpt.example\r\n\
             Subject: Quarterly numbers\r\n\
             Message-ID: <m17.s42@senders.example>\r\n\
             X-Folded: first\r\n\tsecond\r\n\
             \r\n\
             Body line one.\r\n{EICAR}\r\n"
        )
        .into_bytes()
    }

    fn failed() -> Vec<FailedRecipient> {
        vec![
            FailedRecipient {
                rcpt: "bob@rcpt.example".to_string(),
                status: "5.1.1".to_string(),
                diagnostic: "smtp; 550 5.1.1 no such user".to_string(),
                action: "failed".to_string(),
            },
            FailedRecipient {
                rcpt: "carol@rcpt.example".to_string(),
                status: "4.4.7".to_string(),
                diagnostic: "smtp; 451 4.4.7 delivery time expired".to_string(),
                action: "failed".to_string(),
            },
        ]
    }

    fn build(original: &[u8], failed: &[FailedRecipient]) -> Vec<u8> {
        build_dsn(&DsnRequest {
            reporting_mta: "gw-aws-us-east-1-0",
            dsn_message_id: "<dsn.abc@gw-aws-us-east-1-0>",
            original_sender: "alice@senders.example",
            original_message: original,
            failed,
            date_rfc2822: "Mon, 01 Jan 2024 00:00:00 +0000",
        })
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_diagnostic_is_kept_whole_up_to_its_bound_and_cut_at_a_character_after() {
        let short = "smtp; 550 5.1.1 no such user";
        assert_eq!(bounded_diagnostic(short), short);
        let exact = "x".repeat(DIAGNOSTIC_BYTES_MAX);
        assert_eq!(bounded_diagnostic(&exact), exact);
        let long = format!("smtp; 554 5.7.1 {}", "policy text ".repeat(5_000));
        let cut = bounded_diagnostic(&long);
        assert_eq!(cut.len(), DIAGNOSTIC_BYTES_MAX);
        assert!(cut.ends_with("..."), "{cut}");
        assert!(long.starts_with(cut.trim_end_matches("...")));
        // Two-byte characters across the cut: never half of one.
        let wide = "é".repeat(DIAGNOSTIC_BYTES_MAX);
        let cut = bounded_diagnostic(&wide);
        assert!(cut.len() <= DIAGNOSTIC_BYTES_MAX && cut.len() >= DIAGNOSTIC_BYTES_MAX - 1);
        assert!(cut.ends_with("é..."), "{cut}");
    }

    #[test]
    fn the_returned_header_block_stops_at_its_bound_on_a_whole_line() {
        let field = "X-Padding: 0123456789abcdef0123456789abcdef0123456789\r\n";
        let many = field.repeat(2 * RETURNED_HEADERS_BYTES_MAX / field.len());
        let original = format!("Message-ID: <big@senders.example>\r\n{many}\r\nbody\r\n");
        let block = header_block(original.as_bytes());
        assert!(block.len() <= RETURNED_HEADERS_BYTES_MAX, "{}", block.len());
        assert!(block.len() > RETURNED_HEADERS_BYTES_MAX - field.len());
        assert!(block.starts_with(b"Message-ID: <big@senders.example>\r\n"));
        assert!(block.ends_with(field.as_bytes()), "whole lines only");
    }

    #[test]
    fn no_dsn_is_larger_than_its_bound_however_much_it_reports() {
        // The worst a DSN can be asked to carry: the longest addresses a
        // session lets in, refusals far past the diagnostic's bound (kept
        // through `bounded_diagnostic`, as the gateway records them), and
        // an original that is all header.
        let address =
            |n: usize| format!("{n:04}{}@rcpt.example", "u".repeat(ADDRESS_BYTES_MAX - 17));
        let refusal = format!("smtp; 554 5.7.1 {}", "see the policy ".repeat(4_000));
        let original = "X-Padding: 0123456789abcdef\r\n".repeat(20_000);
        for recipients in [1, 3, 50, 200] {
            let failed: Vec<FailedRecipient> = (0..recipients)
                .map(|n| FailedRecipient {
                    rcpt: address(n),
                    status: "5.7.1".to_string(),
                    diagnostic: bounded_diagnostic(&refusal),
                    action: "failed".to_string(),
                })
                .collect();
            let host = "gw-".repeat(80);
            let dsn = build_dsn(&DsnRequest {
                reporting_mta: &host,
                dsn_message_id: &format!("<dsn.0123456789abcdef-dsn0@{host}>"),
                original_sender: &address(9_999),
                original_message: original.as_bytes(),
                failed: &failed,
                date_rfc2822: "Mon, 01 Jan 2024 00:00:00 +0000",
            });
            assert!(
                dsn.len() <= bytes_max(recipients),
                "{recipients} recipients: {} bytes, bound {}",
                dsn.len(),
                bytes_max(recipients)
            );
            // And the bound is not slack beyond reason.
            assert!(dsn.len() * 2 > bytes_max(recipients), "{recipients}");
        }
    }

    #[test]
    fn a_built_dsn_parses_back_to_what_it_reports() {
        let dsn = build(&original(), &failed());
        let info = parse_dsn(&dsn).expect("a DSN");
        assert_eq!(
            info.about_message_id.as_deref(),
            Some("m17.s42@senders.example")
        );
        assert_eq!(
            info.final_recipients,
            vec!["bob@rcpt.example", "carol@rcpt.example"]
        );
        assert_eq!(
            message_id(&dsn).as_deref(),
            Some("dsn.abc@gw-aws-us-east-1-0")
        );
    }

    #[test]
    fn a_dsn_has_the_rfc_3464_shape_with_crlf_lines() {
        let dsn = build(&original(), &failed());
        let text = String::from_utf8(dsn.clone()).expect("ascii");
        for needle in [
            "From: MAILER-DAEMON@gw-aws-us-east-1-0\r\n",
            "To: alice@senders.example\r\n",
            "Subject: Undelivered Mail Returned to Sender\r\n",
            "Reporting-MTA: dns; gw-aws-us-east-1-0\r\n",
            "Final-Recipient: rfc822; bob@rcpt.example\r\nAction: failed\r\nStatus: 5.1.1\r\n",
            "Diagnostic-Code: smtp; 451 4.4.7 delivery time expired\r\n",
            "Content-Type: text/rfc822-headers\r\n",
            "X-Folded: first\r\n\tsecond\r\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "bare LF in\n{text}"
        );
        assert!(!text.replace("\r\n", "").contains('\r'), "bare CR");
    }

    #[test]
    fn a_dsn_never_contains_the_original_body() {
        let dsn = build(&original(), &failed());
        assert!(!contains(&dsn, EICAR.as_bytes()));
        assert!(!contains(&dsn, b"Body line one."));
        let report = scan(&dsn);
        assert_eq!(report.verdict, Verdict::Clean, "{report:?}");
    }

    #[test]
    fn a_body_without_a_blank_line_before_it_is_still_left_out() {
        let raw = format!("Subject: broken\r\nMessage-ID: <b@x>\r\n{EICAR}\r\nmore\r\n");
        let dsn = build(raw.as_bytes(), &failed());
        assert!(!contains(&dsn, EICAR.as_bytes()));
        assert_eq!(
            parse_dsn(&dsn).and_then(|i| i.about_message_id).as_deref(),
            Some("b@x")
        );
    }

    #[test]
    fn building_is_deterministic_and_the_boundary_follows_the_dsn_id() {
        let a = build(&original(), &failed());
        assert_eq!(a, build(&original(), &failed()));
        let other = build_dsn(&DsnRequest {
            dsn_message_id: "<dsn.other@gw>",
            ..DsnRequest {
                reporting_mta: "gw-aws-us-east-1-0",
                dsn_message_id: "",
                original_sender: "alice@senders.example",
                original_message: &original(),
                failed: &failed(),
                date_rfc2822: "Mon, 01 Jan 2024 00:00:00 +0000",
            }
        });
        let boundary_of = |raw: &[u8]| {
            let m = MessageParser::default().parse(raw).expect("parses");
            m.content_type()
                .and_then(|ct| ct.attribute("boundary"))
                .map(str::to_string)
        };
        assert_ne!(boundary_of(&a), boundary_of(&other));
        // Lengthened only when a part holds it: these headers do not.
        let id = "<dsn.abc@gw-aws-us-east-1-0>";
        let plain = format!("=_dsn_{:016x}", fnv1a(id.as_bytes()));
        assert_eq!(boundary_of(&a), Some(plain));
        // FNV-1a 64, as named (the reference vectors).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_field_needs_a_name_before_its_colon() {
        let block = header_block(b"Subject: a\r\n: no name\r\nX-After: b\r\n");
        assert_eq!(block, b"Subject: a\r\n");
    }

    #[test]
    fn a_forged_boundary_in_the_original_headers_is_avoided() {
        let id = "<dsn.abc@gw-aws-us-east-1-0>";
        let forged = format!("=_dsn_{:016x}", fnv1a(id.as_bytes()));
        let raw = format!("Subject: x\r\n--{forged}: trick\r\nMessage-ID: <f@x>\r\n\r\nbody\r\n");
        let dsn = build(raw.as_bytes(), &failed());
        let info = parse_dsn(&dsn).expect("a DSN");
        assert_eq!(info.final_recipients.len(), 2);
        assert_eq!(info.about_message_id.as_deref(), Some("f@x"));
    }

    #[test]
    fn caller_text_cannot_inject_header_lines() {
        let evil = [FailedRecipient {
            rcpt: "x@y\r\nBcc: victim@z".to_string(),
            status: "5.0.0".to_string(),
            diagnostic: "smtp; 550\r\n\r\nnope".to_string(),
            action: "failed".to_string(),
        }];
        let dsn = String::from_utf8(build(&original(), &evil)).expect("ascii");
        assert!(!dsn.contains("\r\nBcc:"));
    }

    #[test]
    fn is_dsn_is_true_for_a_dsn_and_false_for_normal_mail() {
        assert!(is_dsn(&build(&original(), &failed())));
        assert!(!is_dsn(&original()));
        assert!(parse_dsn(&original()).is_none());
        let other_report = b"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b--\r\n";
        assert!(!is_dsn(other_report));
        assert!(!is_dsn(b""));
    }

    #[test]
    fn a_dsn_returning_the_whole_original_as_rfc822_is_understood() {
        let raw = b"From: MAILER-DAEMON@other\r\n\
            Content-Type: multipart/report; report-type=\"Delivery-Status\"; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nsorry\r\n\
            --b\r\nContent-Type: message/delivery-status\r\n\r\n\
            Reporting-MTA: dns; other\r\n\r\nFinal-Recipient: rfc822;\r\n <dave@rcpt.example>\r\nAction: failed\r\n\
            \r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
            Message-ID: <orig@x>\r\nSubject: hi\r\n\r\nhello\r\n\
            --b--\r\n";
        let info = parse_dsn(raw).expect("a DSN");
        assert_eq!(info.about_message_id.as_deref(), Some("orig@x"));
        assert_eq!(info.final_recipients, vec!["dave@rcpt.example"]);
    }

    #[test]
    fn message_id_strips_angle_brackets() {
        assert_eq!(
            message_id(&original()).as_deref(),
            Some("m17.s42@senders.example")
        );
        assert_eq!(message_id(b"Subject: none\r\n\r\n"), None);
        assert_eq!(message_id(b""), None);
        // Malformed, two ids in one field: the first.
        assert_eq!(
            message_id(b"Message-ID: <one@x.test> <two@x.test>\r\n\r\n").as_deref(),
            Some("one@x.test")
        );
    }
}
