//! `traces/SCHEMA.md` stays true to `traces/src/event.rs`: every event kind
//! has a row, and the row names every field the kind writes. Adding a kind
//! or a field without documenting it fails here (and adding a kind fails to
//! compile until it is listed in `one_of_each`).

use traces::{Class, EventKind, Presence, SCHEMA_VERSION, Told, Verdict};

const SCHEMA_DOC: &str = include_str!("../SCHEMA.md");

/// One event of every kind.
fn one_of_each() -> Vec<EventKind> {
    let s = String::new;
    vec![
        EventKind::RunStarted {
            seed: 0,
            schema: 0,
            scenario_sha256: s(),
        },
        EventKind::Phase { phase: s() },
        EventKind::FaultStarted {
            fault: 0,
            kind: s(),
            target: s(),
        },
        EventKind::FaultEnded { fault: 0 },
        EventKind::HostCrashed {},
        EventKind::HostRestarted {},
        EventKind::BuggifyFired { site: s() },
        EventKind::EventRefused {
            kind: s(),
            from: traces::Source::Sender,
        },
        EventKind::MessageBuilt {
            msg: s(),
            class: Class::Clean,
            body_sha256: s(),
            size: 0,
            mail_from: s(),
            rcpts: vec![],
        },
        EventKind::SendAttempt {
            msg: s(),
            attempt: 0,
            mx: s(),
        },
        EventKind::RcptReply {
            msg: s(),
            rcpt: s(),
            code: 0,
        },
        EventKind::SendOutcome {
            msg: s(),
            told: Told::Accepted,
            code: 0,
            rcpts: vec![],
        },
        EventKind::SenderGaveUp {
            msg: s(),
            reason: s(),
        },
        EventKind::MailboxReceived {
            msg: s(),
            rcpt: s(),
            mail_from: s(),
            size: 0,
            body_sha256: s(),
            additions: vec![],
            original_sha256: s(),
            spam_tagged: false,
            dsn_about: None,
            dsn_rcpts: vec![],
            // Non-empty, so that the row is asked to name it.
            dsn_statuses: vec![s()],
            dsn_actions: vec![s()],
            dsn_reporting_mta: s(),
            unflagged_sha256: s(),
            client: s(),
        },
        EventKind::MailboxReplyLost {
            msg: s(),
            rcpts: vec![],
        },
        EventKind::MailboxRefusalUnheard {
            msg: s(),
            rcpts: vec![],
        },
        EventKind::BytesSeen {
            msg: s(),
            region: s(),
            presence: Presence::Stored,
            place: s(),
        },
        EventKind::BytesDurable {
            msg: s(),
            region: s(),
            place: s(),
        },
        EventKind::QuarantineHeld {
            msg: s(),
            region: s(),
            place: s(),
        },
        EventKind::ScanVerdict {
            msg: s(),
            verdict: Verdict::Clean,
            input_sha256: s(),
        },
        EventKind::GwAccepted {
            msg: s(),
            spool_id: s(),
            rcpts: vec![],
            replicas: vec![],
        },
        EventKind::GwDeferred {
            msg: s(),
            reason: s(),
        },
        EventKind::GwDelivered {
            msg: s(),
            rcpt: s(),
        },
        EventKind::GwBounced {
            msg: s(),
            rcpt: s(),
            reason: s(),
        },
        EventKind::GwQuarantined {
            msg: s(),
            region: s(),
        },
        EventKind::GwNote {
            what: s(),
            detail: s(),
        },
        EventKind::MailboxRefused {
            msg: None,
            mail_from: None,
            client: s(),
            rcpts: vec![],
            code: 0,
            status: Some(s()),
            dsn_about: None,
            dsn_rcpts: vec![],
        },
    ]
}

/// Fails to compile when a kind is added: list it in `one_of_each` too.
#[allow(dead_code)]
fn listed(kind: &EventKind) {
    match kind {
        EventKind::RunStarted { .. }
        | EventKind::Phase { .. }
        | EventKind::FaultStarted { .. }
        | EventKind::FaultEnded { .. }
        | EventKind::HostCrashed {}
        | EventKind::HostRestarted {}
        | EventKind::BuggifyFired { .. }
        | EventKind::EventRefused { .. }
        | EventKind::MessageBuilt { .. }
        | EventKind::SendAttempt { .. }
        | EventKind::RcptReply { .. }
        | EventKind::SendOutcome { .. }
        | EventKind::SenderGaveUp { .. }
        | EventKind::MailboxReceived { .. }
        | EventKind::MailboxReplyLost { .. }
        | EventKind::MailboxRefused { .. }
        | EventKind::MailboxRefusalUnheard { .. }
        | EventKind::BytesSeen { .. }
        | EventKind::BytesDurable { .. }
        | EventKind::QuarantineHeld { .. }
        | EventKind::ScanVerdict { .. }
        | EventKind::GwAccepted { .. }
        | EventKind::GwDeferred { .. }
        | EventKind::GwDelivered { .. }
        | EventKind::GwBounced { .. }
        | EventKind::GwQuarantined { .. }
        | EventKind::GwNote { .. } => {}
    }
}

/// The table row documenting `name`.
fn row(name: &str) -> Option<&'static str> {
    let start = format!("| `{name}` |");
    SCHEMA_DOC.lines().find(|line| line.starts_with(&start))
}

#[test]
fn every_event_kind_has_a_row_naming_all_its_fields() {
    for kind in one_of_each() {
        let name = kind.name();
        let row = row(name).unwrap_or_else(|| panic!("SCHEMA.md has no row for `{name}`"));
        let value = serde_json::to_value(&kind).unwrap();
        for field in value.as_object().unwrap().keys().filter(|k| *k != "ev") {
            assert!(
                row.contains(&format!("`{field}`")),
                "SCHEMA.md's row for `{name}` does not name its field `{field}`: {row}"
            );
        }
    }
}

#[test]
fn the_documented_version_matches_schema_version() {
    assert!(
        SCHEMA_DOC.starts_with(&format!(
            "# The observation log: JSONL schema, version {SCHEMA_VERSION}\n"
        )),
        "update SCHEMA.md's title when SCHEMA_VERSION changes"
    );
    assert!(SCHEMA_DOC.contains(&format!("(currently **{SCHEMA_VERSION}**)")));
}
