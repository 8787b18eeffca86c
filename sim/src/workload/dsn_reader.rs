//! How a sender's mail server reads a bounce: RFC 3464 delivery status
//! notifications, read with `mail-parser` directly.
//!
//! This is the witness's own reading, written from the RFCs, not the
//! gateway's DSN module: a DSN the gateway formats wrongly must look wrong
//! here, not be read back by the same mistake. A DSN is a
//! `multipart/report; report-type=delivery-status` message (RFC 6522) whose
//! `message/delivery-status` part holds a group of per-message fields
//! (`Reporting-MTA`, required) and then per-recipient fields
//! (`Final-Recipient: rfc822; addr`, `Action`, `Status`, one group per
//! recipient), groups separated by blank lines, and whose third
//! part returns the original's header (`text/rfc822-headers`, or the whole
//! original as `message/rfc822`), where its Message-ID is.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// What a bounce says, as far as the properties need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the message it is about, without angle brackets.
    pub about: Option<String>,
    /// Every `Final-Recipient` address, in the order given.
    pub final_recipients: Vec<String>,
    /// The `Status` of each of `final_recipients`' groups, in the same
    /// order ("" where a group has none).
    pub statuses: Vec<String>,
    /// The `Action` of each of `final_recipients`' groups, in the same
    /// order, as written ("" where a group has none).
    pub actions: Vec<String>,
    /// The per-message group's `Reporting-MTA` ("" when it has none).
    pub reporting_mta: String,
}

/// Reads `raw` as a DSN; None if it is not one.
pub fn read(raw: &[u8]) -> Option<Bounce> {
    let message = parse(raw)?;
    if !is_delivery_report(&message) {
        return None;
    }
    let mut bounce = Bounce::default();
    for part in message.parts.iter().skip(1) {
        if part.is_content_type("message", "delivery-status") {
            let groups = field_groups(part.contents());
            if let Some(per_message) = groups.first() {
                bounce.reporting_mta = field(per_message, "Reporting-MTA")
                    .unwrap_or_default()
                    .to_string();
            }
            for group in groups.iter().skip(1) {
                let Some(recipient) = recipient_of(group) else {
                    continue;
                };
                bounce.final_recipients.push(recipient);
                bounce.statuses.push(status_of(group));
                bounce
                    .actions
                    .push(field(group, "Action").unwrap_or_default().to_string());
            }
        } else if bounce.about.is_none() {
            bounce.about = match &part.body {
                PartType::Message(original) => original.message_id().map(str::to_string),
                _ if part.is_content_type("text", "rfc822-headers")
                    || part.is_content_type("message", "rfc822") =>
                {
                    // A returned header block may lack its closing blank
                    // line (the part ends where the boundary begins).
                    let mut header = part.contents().to_vec();
                    header.extend_from_slice(b"\r\n\r\n");
                    message_id(&header)
                }
                _ => None,
            };
        }
    }
    Some(bounce)
}

/// The Message-ID in the header block of `raw`, without angle brackets.
pub fn message_id(raw: &[u8]) -> Option<String> {
    let parser = MessageParser::default();
    // mail-parser promises not to panic; the bytes are the gateway's, and a
    // witness must not die of them either way.
    let headers = catch_unwind(AssertUnwindSafe(|| parser.parse_headers(raw))).ok()??;
    headers.message_id().map(str::to_string)
}

fn parse(raw: &[u8]) -> Option<Message<'_>> {
    let parser = MessageParser::default();
    catch_unwind(AssertUnwindSafe(|| parser.parse(raw))).ok()?
}

/// RFC 6522 §3: a report is a `multipart/report` whose `report-type`
/// names its kind; a DSN's is `delivery-status` (RFC 3464 §2).
fn is_delivery_report(message: &Message<'_>) -> bool {
    let Some(content_type) = message.content_type() else {
        return false;
    };
    let seen = [
        content_type.ctype(),
        content_type.subtype().unwrap_or_default(),
        content_type
            .attribute("report-type")
            .unwrap_or_default()
            .trim(),
    ];
    seen.iter()
        .zip(["multipart", "report", "delivery-status"])
        .all(|(seen, wanted)| seen.eq_ignore_ascii_case(wanted))
}

/// The groups of fields of a `message/delivery-status` body, folded lines
/// joined (RFC 3464 §2.1: groups are separated by blank lines; the first
/// holds the per-message fields, each later one a recipient's, so a
/// recipient's fields written into the first group are not a recipient's).
fn field_groups(status: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(status);
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let group = groups.last_mut().expect("never empty");
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(Vec::new());
            }
            continue;
        }
        match (line.starts_with([' ', '\t']), group.last_mut()) {
            (true, Some(field)) => field.push_str(line),
            _ => group.push(line.to_string()),
        }
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// The value of the field `wanted` in `group`, trimmed.
fn field<'g>(group: &'g [String], wanted: &str) -> Option<&'g str> {
    group.iter().find_map(|field| {
        let (name, value) = field.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case(wanted)
            .then(|| value.trim())
    })
}

/// A recipient group's `Final-Recipient` address (RFC 3464 §2.3.2:
/// `address-type ";" generic-address`).
fn recipient_of(group: &[String]) -> Option<String> {
    let (_, address) = field(group, "Final-Recipient")?.split_once(';')?;
    let address = address.trim();
    let address = address
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(address);
    (!address.is_empty()).then(|| address.to_string())
}

/// A recipient group's `Status` (§2.3.4), the value up to any comment.
fn status_of(group: &[String]) -> String {
    field(group, "Status")
        .and_then(|v| v.split(['(', ' ', '\t']).next())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &[u8] = b"From: MAILER-DAEMON@gw.test\r\n\
        Message-ID: <dsn1@gw.test>\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=delivery-status;\r\n\
        \tboundary=\"b1\"\r\n\r\n\
        --b1\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n\
        --b1\r\nContent-Type: message/delivery-status\r\n\r\n\
        Reporting-MTA: dns; gw.test\r\n\r\n\
        Final-Recipient: rfc822; bob@acme.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
        Final-Recipient: rfc822;\r\n carol@acme.example\r\nAction: failed\r\nStatus: 4.4.7\r\n\
        --b1\r\nContent-Type: text/rfc822-headers\r\n\r\n\
        From: alice@sender.example\r\nMessage-ID: <m7.s1@sender.example>\r\n\
        --b1--\r\n";

    #[test]
    fn a_dsn_names_the_original_and_each_final_recipient() {
        let bounce = read(DSN).expect("a DSN");
        assert_eq!(bounce.about.as_deref(), Some("m7.s1@sender.example"));
        assert_eq!(
            bounce.final_recipients,
            ["bob@acme.example", "carol@acme.example"]
        );
        assert_eq!(bounce.statuses, ["5.1.1", "4.4.7"]);
        assert_eq!(bounce.actions, ["failed", "failed"]);
        assert_eq!(bounce.reporting_mta, "dns; gw.test");
        assert_eq!(message_id(DSN).as_deref(), Some("dsn1@gw.test"));
    }

    /// The delivery-status part of `DSN` replaced by `status`.
    fn with_status(status: &str) -> Vec<u8> {
        let text = String::from_utf8_lossy(DSN).into_owned();
        let (head, rest) = text
            .split_once("delivery-status\r\n\r\n")
            .expect("a status part");
        let (_, tail) = rest
            .split_once("--b1\r\nContent-Type: text/rfc822")
            .expect("headers");
        format!("{head}delivery-status\r\n\r\n{status}--b1\r\nContent-Type: text/rfc822{tail}")
            .into_bytes()
    }

    #[test]
    fn each_status_and_action_is_read_from_its_own_recipients_group() {
        let bounce = read(&with_status(
            "Reporting-MTA: dns; gw.test\r\nStatus: 2.0.0\r\n\r\n\
             Status: 5.7.1 (policy)\r\nAction: failed\r\nFinal-Recipient: rfc822; <a@x.example>\r\n\
             \r\n\r\nFinal-Recipient: rfc822; b@x.example\r\nAction: Delayed\r\n\r\n\
             Final-Recipient: rfc822; c@x.example\r\nStatus:\r\n 4.4.7\r\n",
        ))
        .expect("a DSN");
        assert_eq!(
            bounce.final_recipients,
            ["a@x.example", "b@x.example", "c@x.example"]
        );
        assert_eq!(bounce.statuses, ["5.7.1", "", "4.4.7"]);
        assert_eq!(bounce.actions, ["failed", "Delayed", ""]);
    }

    #[test]
    fn the_first_group_is_the_per_message_one_whatever_it_holds() {
        // No blank line after the per-message fields: a strict reader finds
        // no group for bob, and one without a Reporting-MTA is read as such.
        let merged = read(&with_status(
            "Reporting-MTA: dns; gw.test\r\n\
             Final-Recipient: rfc822; bob@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
             Final-Recipient: rfc822; carol@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        ))
        .expect("a DSN");
        assert_eq!(merged.final_recipients, ["carol@x.example"]);
        assert_eq!(merged.reporting_mta, "dns; gw.test");
        let headless = read(&with_status(
            "Final-Recipient: rfc822; bob@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        ))
        .expect("a DSN");
        assert!(headless.final_recipients.is_empty());
        assert_eq!(headless.reporting_mta, "");
    }

    #[test]
    fn ordinary_mail_and_garbage_are_not_dsns() {
        assert_eq!(
            read(b"Subject: hi\r\n\r\nFinal-Recipient: rfc822; x@y\r\n"),
            None
        );
        assert_eq!(read(b"\xff\x00:"), None);
        assert_eq!(read(b""), None);
        assert_eq!(message_id(b"Subject: no id\r\n\r\n"), None);
    }
}
