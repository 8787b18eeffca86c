//! The multipart test messages (an attachment, HTML alternatives, the
//! malware carriers), built with `mail-builder`: a maintained MIME writer
//! nobody here wrote, so the structure the gateway's scanner must open is
//! what real mail software produces, not what our own parser expects.
//!
//! Determinism: mail-builder draws boundaries from the clock and process
//! entropy, and fills in a Message-ID and Date when none is given, so every
//! multipart gets an explicit `boundary` attribute from the message's seeds
//! and the Message-ID and Date come from the plan.
//!
//! The malware carriers of the canonical EICAR file, one drawn per message:
//! a base64 attachment, a base64 inline part, a quoted-printable text
//! attachment, and (the `EicarZipLike` kind) a base64 attachment inside a
//! forwarded `message/rfc822`, itself base64-encoded, which RFC 2046
//! §5.2.1 forbids and malware does precisely because lazy scanners skip it.

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;

use crate::workload::mime::{EICAR, MessageSpec};

/// How an `Eicar` message carries the file.
pub const EICAR_CARRIERS: [&str; 3] = [
    "base64-attachment",
    "base64-inline",
    "quoted-printable-attachment",
];

/// The whole message: the plan's header fields, then `body`.
pub fn message(spec: &MessageSpec, subject: &str, body: MimePart<'_>) -> Vec<u8> {
    let to: Vec<String> = spec.to.iter().map(|r| one_line(r)).collect();
    let builder = MessageBuilder::new()
        .header("Date", Raw::new(one_line(spec.date_rfc2822)))
        .from(one_line(spec.from))
        .subject(subject.to_string())
        .message_id(one_line(spec.message_id))
        .header("X-Mailer", Raw::new("mailsim-workload/2"));
    let builder = if to.is_empty() {
        builder.header("To", Raw::new("undisclosed-recipients:;"))
    } else {
        builder.to(to)
    };
    builder.body(body).write_to_vec().unwrap_or_default()
}

/// A `multipart/<subtype>` with the given boundary.
pub fn multipart<'x>(subtype: &str, boundary: String, parts: Vec<MimePart<'x>>) -> MimePart<'x> {
    let ctype = ContentType::new(format!("multipart/{subtype}")).attribute("boundary", boundary);
    MimePart::new(ctype, parts)
}

/// Text, in whatever transfer encoding mail-builder finds it needs.
pub fn text(subtype: &str, body: String) -> MimePart<'static> {
    MimePart::new(format!("text/{subtype}"), body)
}

/// A binary attachment (mail-builder encodes it base64).
pub fn attachment(ctype: &str, name: String, data: Vec<u8>) -> MimePart<'static> {
    MimePart::new(ctype.to_string(), data).attachment(name)
}

/// The EICAR file the way `carrier` (one of [`EICAR_CARRIERS`]) carries it.
pub fn eicar(carrier: &str, name: String) -> MimePart<'static> {
    match carrier {
        "base64-inline" => MimePart::new("application/octet-stream", EICAR.to_vec()).inline(),
        "quoted-printable-attachment" => {
            // Printable ASCII with no '=': its quoted-printable form is
            // itself, which is what a mailer would send.
            let ctype = ContentType::new("text/plain").attribute("charset", "us-ascii");
            MimePart::new(ctype, EICAR.to_vec())
                .attachment(name)
                .transfer_encoding("quoted-printable")
        }
        _ => attachment("application/octet-stream", name, EICAR.to_vec()),
    }
}

/// A forwarded message as an attachment (mail-builder encodes it base64).
pub fn forwarded(raw: Vec<u8>) -> MimePart<'static> {
    MimePart::new("message/rfc822", raw).attachment("forwarded.eml")
}

/// Header values stay on one line whatever a plan says.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}
