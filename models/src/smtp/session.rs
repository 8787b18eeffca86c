//! The SMTP server side of one connection (RFC 5321) as a pure state machine:
//! bytes go in through [`Session::push`], replies and complete messages come
//! out of [`Session::next`]. There is no IO here, so ingress can drive it from
//! any engine and tests can feed it hostile input byte by byte.
//!
//! Command lines are framed here and parsed by `smtp-proto`; the message body
//! is read by a small byte-level machine of our own (`super::body`) because
//! the end of data (`CRLF . CRLF`) and dot-unstuffing must agree exactly
//! with our client (`super::client`), and because smtp-proto's body
//! receiver does not recognise a terminator or a stuffed dot on the very
//! first line of the body. A bare LF or CR in the body is answered `554
//! 5.5.2` and the connection closed (Postfix's `smtpd_forbid_bare_newline`
//! policy; see `super::body`).
//!
//! Memory stays bounded by the limits whatever the peer sends: an over-long
//! command line is discarded, an oversized body is counted but not stored. The
//! one exception is input pushed while a message awaits its answer; callers
//! should stop reading the socket while [`Session::is_awaiting_answer`].

use crate::smtp::body::{BodyCursor, BodyEnd, BodySink, read_body};
use smtp_proto::{
    EXT_8BIT_MIME, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_SIZE, EXT_SMTP_UTF8,
    EhloResponse, MAIL_BODY_7BIT, MAIL_BODY_8BITMIME, MAIL_SMTPUTF8, MailFrom, RcptTo, Request,
};

/// After this many bad commands in a row the peer is not speaking SMTP with
/// us in good faith (or at all); we answer 421 and hang up.
pub const BAD_COMMANDS_CONSECUTIVE_MAX: u32 = 10;

/// The longest command line the gateway's ingress takes (RFC 5321
/// §4.5.3.1.4 asks at least 512 octets): also the longest address a DSN
/// may have to name (`mime::dsn::bytes_max`).
pub const INGRESS_LINE_BYTES_MAX: usize = 1_000;

/// What one session enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Our name in the greeting and replies.
    pub hostname: String,
    /// Largest message accepted, counted after dot-unstuffing and CRLF
    /// normalisation (what we would store).
    pub message_bytes_max: u64,
    pub recipients_max: u32,
    /// Longest command line including its CRLF; RFC 5321 allows 512, we use
    /// 1000 as most servers do.
    pub line_bytes_max: usize,
    /// The mailbox a domainless `RCPT TO:<Postmaster>` stands for (RFC
    /// 5321 §4.5.1: a server MUST take it without domain qualification);
    /// None answers it as a bad address.
    pub postmaster: Option<String>,
}

/// The gateway's verdict on one `RCPT TO` address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcptCheck {
    Accept,
    /// A domain we serve without this user: 550 5.1.1.
    UnknownUser,
    /// A domain we don't serve; we are not an open relay: 550 5.7.1.
    RelayDenied,
    /// We cannot decide right now: 451 4.3.0.
    TryLater,
    /// We could not keep a 250 now (no replication quorum in reach), so we
    /// say so before the client sends the body: 451 4.3.0.
    CannotKeepPromise,
}

/// Who a message is from and for, as the client declared it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// "" for the null sender `<>` (bounces).
    pub mail_from: String,
    /// Accepted recipients in the order given, without duplicates.
    pub rcpts: Vec<String>,
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// The client declared SMTPUTF8 in MAIL (RFC 6531): the next hop must
    /// offer it too.
    pub smtputf8: bool,
}

/// What the connection driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes to send to the client: one or more complete replies.
    Write(Vec<u8>),
    /// A complete message: dot-unstuffed, CRLF line endings, without the final
    /// ".\r\n". Answer it with [`Session::answer_message`].
    Message { envelope: Envelope, data: Vec<u8> },
    /// Close the connection; any reply that had to precede it came first.
    Close,
}

#[derive(Debug)]
enum Phase {
    Command,
    /// The rest of an over-long command line is being thrown away; its 500
    /// has already been queued.
    SkippingLongLine,
    Data(BodyCursor),
    /// A message was handed out; nothing more until `answer_message`.
    AwaitingAnswer,
    Closed,
}

/// The outcome of one unit of work inside `next`.
enum Progress {
    Continue,
    NeedInput,
    Emit(Step),
}

/// One SMTP server connection.
#[derive(Debug)]
pub struct Session {
    limits: SessionLimits,
    /// Bytes pushed but not yet consumed start at `inbox_start`; consumed
    /// bytes are dropped in bulk so a pipelined batch is not copied per line.
    inbox: Vec<u8>,
    inbox_start: usize,
    phase: Phase,
    helo: Option<String>,
    mail_from: Option<String>,
    smtputf8: bool,
    rcpts: Vec<String>,
    body: BodySink,
    bad_streak: u32,
    /// A Message or Close that must wait until the replies before it have
    /// been handed out, so the wire order matches the command order.
    deferred: Option<Step>,
}

impl Session {
    pub fn new(limits: SessionLimits) -> Self {
        Session {
            limits,
            inbox: Vec::new(),
            inbox_start: 0,
            phase: Phase::Command,
            helo: None,
            mail_from: None,
            smtputf8: false,
            rcpts: Vec::new(),
            body: BodySink::default(),
            bad_streak: 0,
            deferred: None,
        }
    }

    pub fn greeting(&self) -> Vec<u8> {
        format!("220 {} ESMTP mailsim\r\n", sanitize(&self.limits.hostname)).into_bytes()
    }

    /// Bytes read from the socket. Ignored once the session is closed.
    pub fn push(&mut self, input: &[u8]) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.inbox.extend_from_slice(input);
    }

    /// Next thing to do; None = need more input (or waiting for
    /// `answer_message`, or closed). Replies to several pipelined commands
    /// come back as one `Step::Write`.
    pub fn next(&mut self, rcpt_check: &mut dyn FnMut(&str) -> RcptCheck) -> Option<Step> {
        if let Some(step) = self.deferred.take() {
            return Some(step);
        }
        let mut out = Vec::new();
        loop {
            match self.advance(rcpt_check, &mut out) {
                Progress::Continue => {}
                Progress::NeedInput => break,
                Progress::Emit(step) => {
                    if out.is_empty() {
                        return Some(step);
                    }
                    self.deferred = Some(step);
                    return Some(Step::Write(out));
                }
            }
        }
        self.compact_inbox();
        if out.is_empty() {
            None
        } else {
            Some(Step::Write(out))
        }
    }

    /// Answers the message last returned by `next`; returns the reply to
    /// write. The transaction is reset (HELO kept). A 421 answer also closes
    /// the session: the following `next` returns `Step::Close`. Panics if no
    /// message awaits an answer or `code` is not 2xx-5xx: a driver bug, not
    /// something a peer can cause.
    pub fn answer_message(&mut self, code: u16, enhanced: &str, text: &str) -> Vec<u8> {
        assert!(
            matches!(self.phase, Phase::AwaitingAnswer) && self.deferred.is_none(),
            "answer_message called without a message awaiting its answer"
        );
        assert!(
            (200..600).contains(&code),
            "SMTP reply code {code} out of range"
        );
        self.reset_transaction();
        if code == 421 {
            self.close();
            self.deferred = Some(Step::Close);
        } else {
            self.phase = Phase::Command;
        }
        reply(code, enhanced, text)
    }

    /// True while the body of a message is being received (after our 354,
    /// before its final dot).
    pub fn is_reading_data(&self) -> bool {
        matches!(self.phase, Phase::Data(_))
    }

    /// True from the moment a message is complete until `answer_message`.
    pub fn is_awaiting_answer(&self) -> bool {
        matches!(self.phase, Phase::AwaitingAnswer)
    }

    fn pending(&self) -> &[u8] {
        &self.inbox[self.inbox_start..]
    }

    fn compact_inbox(&mut self) {
        self.inbox.drain(..self.inbox_start);
        self.inbox_start = 0;
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.inbox = Vec::new();
        self.inbox_start = 0;
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.smtputf8 = false;
        self.rcpts.clear();
        self.body = BodySink::default();
    }

    fn advance(
        &mut self,
        rcpt_check: &mut dyn FnMut(&str) -> RcptCheck,
        out: &mut Vec<u8>,
    ) -> Progress {
        match self.phase {
            Phase::AwaitingAnswer | Phase::Closed => Progress::NeedInput,
            Phase::SkippingLongLine => match self.pending().iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    self.inbox_start += newline + 1;
                    self.phase = Phase::Command;
                    Progress::Continue
                }
                None => {
                    self.inbox_start = self.inbox.len();
                    Progress::NeedInput
                }
            },
            Phase::Data(mut cursor) => {
                let limit = self.limits.message_bytes_max;
                let (consumed, end) = read_body(
                    &mut cursor,
                    &self.inbox[self.inbox_start..],
                    &mut self.body,
                    limit,
                );
                self.inbox_start += consumed;
                match end {
                    BodyEnd::Terminator => self.finish_body(out),
                    BodyEnd::More => {
                        self.phase = Phase::Data(cursor);
                        Progress::NeedInput
                    }
                    BodyEnd::Bare(newline) => {
                        // Where this client thinks its lines end is not
                        // where we would: nothing after this byte can be
                        // trusted as data or as commands, so hang up.
                        let text = format!("Error: bare {} received", newline.name());
                        out.extend(reply(554, "5.5.2", &text));
                        self.close();
                        Progress::Emit(Step::Close)
                    }
                }
            }
            Phase::Command => self.next_command(rcpt_check, out),
        }
    }

    fn next_command(
        &mut self,
        rcpt_check: &mut dyn FnMut(&str) -> RcptCheck,
        out: &mut Vec<u8>,
    ) -> Progress {
        let line_max = self.limits.line_bytes_max;
        let pending = self.pending();
        if pending.is_empty() {
            return Progress::NeedInput;
        }
        let Some(newline) = pending.iter().position(|&b| b == b'\n') else {
            // Without a newline the line can still grow; once it cannot fit
            // any more, answer now rather than wait for a CRLF that a hostile
            // client may never send.
            if pending.len() >= line_max {
                self.inbox_start = self.inbox.len();
                self.phase = Phase::SkippingLongLine;
                return self.bad(out, 500, "5.5.2", "Line too long");
            }
            return Progress::NeedInput;
        };
        let line_start = self.inbox_start;
        let line_end = line_start + newline + 1;
        self.inbox_start = line_end;
        let line = &self.inbox[line_start..line_end];
        if line.len() > line_max {
            return self.bad(out, 500, "5.5.2", "Line too long");
        }
        if std::str::from_utf8(line).is_err() {
            return self.bad(out, 500, "5.5.2", "Command is not valid UTF-8");
        }
        match Request::parse(&mut line.iter()).map(Request::into_owned) {
            // smtp-proto reads `MAIL FROM:<postmaster>` as the null
            // reverse-path; RFC 5321's grammar has no domainless sender
            // (only RCPT has the `<Postmaster>` special case), and taking
            // it for `<>` would treat a person's mail as a bounce.
            Ok(Request::Mail { from })
                if from.address.is_empty() && names_bare_postmaster(line) =>
            {
                self.bad(out, 501, "5.1.7", "Bad sender address syntax")
            }
            // ...and `RCPT TO:<Postmaster>` as `<>` too, where RFC 5321
            // §4.1.1.3 makes it the one domainless recipient every server
            // must take: it stands for the operator's postmaster.
            Ok(Request::Rcpt { mut to })
                if to.address.is_empty() && names_bare_postmaster(line) =>
            {
                match self.limits.postmaster.clone() {
                    Some(postmaster) => {
                        to.address = postmaster;
                        self.handle_request(Request::Rcpt { to }, rcpt_check, out)
                    }
                    None => self.bad(out, 501, "5.1.3", "Bad recipient address syntax"),
                }
            }
            Ok(request) => self.handle_request(request, rcpt_check, out),
            Err(error) => self.handle_parse_error(error, out),
        }
    }

    fn handle_parse_error(&mut self, error: smtp_proto::Error, out: &mut Vec<u8>) -> Progress {
        use smtp_proto::Error as E;
        match error {
            E::InvalidSenderAddress => self.bad(out, 501, "5.1.7", "Bad sender address syntax"),
            E::InvalidRecipientAddress => {
                self.bad(out, 501, "5.1.3", "Bad recipient address syntax")
            }
            E::SyntaxError { syntax } => self.bad(out, 501, "5.5.4", &format!("Syntax: {syntax}")),
            E::InvalidParameter { param } => {
                self.bad(out, 501, "5.5.4", &format!("Invalid {param} parameter"))
            }
            E::UnsupportedParameter { param } => {
                self.bad(out, 555, "5.5.4", &format!("Unsupported parameter {param}"))
            }
            E::UnknownCommand
            | E::NeedsMoreData { .. }
            | E::ResponseTooLong
            | E::InvalidResponse { .. } => self.bad(out, 500, "5.5.2", "Command unrecognized"),
        }
    }

    fn handle_request(
        &mut self,
        request: Request<String>,
        rcpt_check: &mut dyn FnMut(&str) -> RcptCheck,
        out: &mut Vec<u8>,
    ) -> Progress {
        match request {
            Request::Ehlo { host } => {
                // EHLO implies RSET (RFC 5321 4.1.4).
                self.reset_transaction();
                self.helo = Some(host);
                let mut ehlo = EhloResponse::new(sanitize(&self.limits.hostname));
                ehlo.capabilities = EXT_SIZE
                    | EXT_PIPELINING
                    | EXT_8BIT_MIME
                    | EXT_SMTP_UTF8
                    | EXT_ENHANCED_STATUS_CODES;
                ehlo.size = usize::try_from(self.limits.message_bytes_max).unwrap_or(usize::MAX);
                ehlo.write(&mut *out)
                    .expect("writing into a Vec cannot fail");
                self.good()
            }
            Request::Helo { host } => {
                self.reset_transaction();
                self.helo = Some(host);
                out.extend_from_slice(
                    format!("250 {}\r\n", sanitize(&self.limits.hostname)).as_bytes(),
                );
                self.good()
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    return self.bad(out, 503, "5.5.1", "Send EHLO or HELO first");
                }
                if self.mail_from.is_some() {
                    return self.bad(out, 503, "5.5.1", "Sender already specified");
                }
                if let Some(param) = unadvertised_mail_parameter(&from) {
                    return self.bad(out, 555, "5.5.4", &format!("Unsupported parameter {param}"));
                }
                let declared = u64::try_from(from.size).unwrap_or(u64::MAX);
                if declared > self.limits.message_bytes_max {
                    out.extend(reply(
                        552,
                        "5.3.4",
                        "Message size exceeds fixed maximum message size",
                    ));
                    return self.good();
                }
                self.mail_from = Some(from.address);
                self.smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
                out.extend(reply(250, "2.1.0", "Sender OK"));
                self.good()
            }
            Request::Rcpt { to } => {
                if let Some(param) = unadvertised_rcpt_parameter(&to) {
                    return self.bad(out, 555, "5.5.4", &format!("Unsupported parameter {param}"));
                }
                self.handle_rcpt(to.address, rcpt_check, out)
            }
            Request::Data => {
                if self.mail_from.is_none() {
                    return self.bad(out, 503, "5.5.1", "Need MAIL command");
                }
                if self.rcpts.is_empty() {
                    return self.bad(out, 503, "5.5.1", "No valid recipients");
                }
                self.body = BodySink::default();
                self.phase = Phase::Data(BodyCursor::LineStart);
                out.extend(reply(354, "", "Start mail input; end with <CRLF>.<CRLF>"));
                self.good()
            }
            Request::Rset => {
                self.reset_transaction();
                out.extend(reply(250, "2.0.0", "OK"));
                self.good()
            }
            Request::Noop { .. } => {
                out.extend(reply(250, "2.0.0", "OK"));
                self.good()
            }
            Request::Vrfy { .. } => {
                out.extend(reply(
                    252,
                    "2.0.0",
                    "Cannot VRFY user, but will accept message and attempt delivery",
                ));
                self.good()
            }
            Request::Help { .. } => {
                out.extend(reply(
                    214,
                    "2.0.0",
                    "mailsim: commands are those of RFC 5321",
                ));
                self.good()
            }
            Request::Quit => {
                let bye = format!("{} closing connection", sanitize(&self.limits.hostname));
                out.extend(reply(221, "2.0.0", &bye));
                self.close();
                Progress::Emit(Step::Close)
            }
            Request::Lhlo { .. }
            | Request::Bdat { .. }
            | Request::Auth { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::StartTls => self.bad(out, 502, "5.5.1", "Command not implemented"),
        }
    }

    fn handle_rcpt(
        &mut self,
        address: String,
        rcpt_check: &mut dyn FnMut(&str) -> RcptCheck,
        out: &mut Vec<u8>,
    ) -> Progress {
        if self.mail_from.is_none() {
            return self.bad(out, 503, "5.5.1", "Need MAIL before RCPT");
        }
        // smtp-proto maps `<>` (and a bare `<postmaster>`, which we resolve
        // before we get here) to "": no mailbox we could route.
        if address.is_empty() {
            return self.bad(out, 501, "5.1.3", "Bad recipient address syntax");
        }
        if self.rcpts.contains(&address) {
            out.extend(reply(250, "2.1.5", "Recipient OK (duplicate)"));
            return self.good();
        }
        if self.rcpts.len() >= self.limits.recipients_max as usize {
            out.extend(reply(452, "4.5.3", "Too many recipients"));
            return self.good();
        }
        match rcpt_check(&address) {
            RcptCheck::Accept => {
                self.rcpts.push(address);
                out.extend(reply(250, "2.1.5", "Recipient OK"));
            }
            RcptCheck::UnknownUser => out.extend(reply(550, "5.1.1", "No such user here")),
            RcptCheck::RelayDenied => out.extend(reply(550, "5.7.1", "Relay access denied")),
            RcptCheck::TryLater => {
                out.extend(reply(451, "4.3.0", "Temporary failure, try again later"))
            }
            RcptCheck::CannotKeepPromise => out.extend(reply(
                451,
                "4.3.0",
                "Cannot reach a replication quorum now, try again later",
            )),
        }
        self.good()
    }

    fn finish_body(&mut self, out: &mut Vec<u8>) -> Progress {
        if self.body.oversized {
            self.reset_transaction();
            self.phase = Phase::Command;
            out.extend(reply(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            ));
            return Progress::Continue;
        }
        let envelope = Envelope {
            mail_from: self.mail_from.clone().unwrap_or_default(),
            rcpts: self.rcpts.clone(),
            helo: self.helo.clone().unwrap_or_default(),
            smtputf8: self.smtputf8,
        };
        let data = std::mem::take(&mut self.body.bytes);
        self.phase = Phase::AwaitingAnswer;
        Progress::Emit(Step::Message { envelope, data })
    }

    fn good(&mut self) -> Progress {
        self.bad_streak = 0;
        Progress::Continue
    }

    fn bad(&mut self, out: &mut Vec<u8>, code: u16, enhanced: &str, text: &str) -> Progress {
        out.extend(reply(code, enhanced, text));
        self.bad_streak += 1;
        if self.bad_streak >= BAD_COMMANDS_CONSECUTIVE_MAX {
            let text = format!(
                "{} Too many errors, closing connection",
                sanitize(&self.limits.hostname)
            );
            out.extend(reply(421, "4.7.0", &text));
            self.close();
            return Progress::Emit(Step::Close);
        }
        Progress::Continue
    }
}

/// Keeps a reply on one line whatever text it carries.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// One single-line reply; `enhanced` may be empty (354 carries none).
fn reply(code: u16, enhanced: &str, text: &str) -> Vec<u8> {
    let text = sanitize(text);
    let enhanced = sanitize(enhanced);
    if enhanced.is_empty() {
        format!("{code} {text}\r\n").into_bytes()
    } else {
        format!("{code} {enhanced} {text}\r\n").into_bytes()
    }
}

/// Whether the command's path is a domainless `<postmaster>`.
fn names_bare_postmaster(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let path = text
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(path, _)| path.trim());
    path.is_some_and(|path| path.eq_ignore_ascii_case("postmaster"))
}

/// The first MAIL parameter the client gave that our EHLO did not offer.
/// smtp-proto parses every registered extension's parameters (DSN's RET and
/// ENVID, AUTH, BY, FUTURERELEASE, MT-PRIORITY, REQUIRETLS, BODY=BINARYMIME,
/// ...); RFC 5321 §4.1.1.11 wants 555 for one we do not implement rather
/// than a 250 that silently drops what the client asked for (a sender that
/// asked `RET=HDRS` would get its whole message back in a bounce).
fn unadvertised_mail_parameter(from: &MailFrom<String>) -> Option<&'static str> {
    let offered_flags = MAIL_BODY_7BIT | MAIL_BODY_8BITMIME | MAIL_SMTPUTF8;
    if from.flags & !offered_flags != 0 {
        return Some("(BODY, RET, REQUIRETLS, CONPERM or BY)");
    }
    [
        (from.env_id.is_some(), "ENVID"),
        (from.auth.is_some(), "AUTH"),
        (from.by != 0, "BY"),
        (from.trans_id.is_some(), "TRANSID"),
        (from.solicit.is_some(), "SOLICIT"),
        (from.mtrk.is_some(), "MTRK"),
        (
            from.hold_for != 0 || from.hold_until != 0,
            "HOLDFOR/HOLDUNTIL",
        ),
        (from.mt_priority != 0, "MT-PRIORITY"),
    ]
    .into_iter()
    .find_map(|(given, name)| given.then_some(name))
}

/// The first RCPT parameter the client gave; we offer none (no DSN, so no
/// NOTIFY or ORCPT: a client told 250 to `NOTIFY=NEVER` would expect no
/// bounce, and we would send one).
fn unadvertised_rcpt_parameter(to: &RcptTo<String>) -> Option<&'static str> {
    [
        (to.flags != 0, "(NOTIFY, CONNEG or RRVS)"),
        (to.orcpt.is_some(), "ORCPT"),
        (to.rrvs != 0, "RRVS"),
    ]
    .into_iter()
    .find_map(|(given, name)| given.then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SessionLimits {
        SessionLimits {
            hostname: "gw.test".to_string(),
            message_bytes_max: 1000,
            recipients_max: 3,
            line_bytes_max: 1000,
            postmaster: Some("postmaster@example.com".to_string()),
        }
    }

    /// example.com has alice, bob, carol, dave and its postmaster; busy.example.com is
    /// temporarily unavailable; everything else is someone else's domain.
    fn directory(address: &str) -> RcptCheck {
        match address.rsplit_once('@') {
            Some((user, "example.com"))
                if ["alice", "bob", "carol", "dave", "postmaster"].contains(&user) =>
            {
                RcptCheck::Accept
            }
            Some((_, "example.com")) => RcptCheck::UnknownUser,
            Some((_, "busy.example.com")) => RcptCheck::TryLater,
            _ => RcptCheck::RelayDenied,
        }
    }

    /// Everything the session does until it needs input, in order.
    fn drain(session: &mut Session) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut check = directory;
        while let Some(step) = session.next(&mut check) {
            steps.push(step);
        }
        steps
    }

    /// All replies written in `steps`, as text.
    fn written(steps: &[Step]) -> String {
        let mut text = String::new();
        for step in steps {
            if let Step::Write(bytes) = step {
                text.push_str(&String::from_utf8_lossy(bytes));
            }
        }
        text
    }

    /// The reply codes in `text`, one per final reply line.
    fn codes(text: &str) -> Vec<u16> {
        text.split("\r\n")
            .filter(|line| line.len() >= 4 && line.as_bytes()[3] == b' ')
            .map(|line| line[..3].parse().expect("test replies start with a code"))
            .collect()
    }

    fn messages(steps: &[Step]) -> Vec<(Envelope, Vec<u8>)> {
        steps
            .iter()
            .filter_map(|step| match step {
                Step::Message { envelope, data } => Some((envelope.clone(), data.clone())),
                _ => None,
            })
            .collect()
    }

    fn feed(session: &mut Session, input: &[u8]) -> Vec<Step> {
        session.push(input);
        drain(session)
    }

    #[test]
    fn the_body_is_read_from_the_354_to_the_final_dot() {
        // The gateway times a body by the DATA timeout and a command by
        // the command timeout (RFC 5321 4.5.3.2), as this says.
        let mut session = Session::new(limits());
        let before = "EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.com>\r\n";
        feed(&mut session, before.as_bytes());
        assert!(!session.is_reading_data());
        feed(&mut session, b"DATA\r\nSubject: x\r\n\r\nhalf a body");
        assert!(session.is_reading_data());
        feed(&mut session, b"\r\n.\r\n");
        assert!(!session.is_reading_data());
        assert!(session.is_awaiting_answer());
    }

    #[test]
    fn a_long_session_keeps_only_what_it_has_not_read() {
        let mut session = Session::new(limits());
        for _ in 0..1000 {
            feed(&mut session, b"NOOP\r\n");
        }
        feed(&mut session, b"NOO");
        assert_eq!(session.inbox.len(), 3, "read commands are let go");
    }

    #[test]
    fn greeting_names_the_host() {
        let session = Session::new(limits());
        assert_eq!(session.greeting(), b"220 gw.test ESMTP mailsim\r\n");
    }

    #[test]
    fn ehlo_advertises_size_pipelining_8bitmime_and_enhanced_status_codes() {
        let mut session = Session::new(limits());
        let text = written(&feed(&mut session, b"EHLO client.test\r\n"));
        assert!(text.starts_with("250-gw.test"), "{text}");
        for capability in [
            "250-SIZE 1000\r\n",
            "PIPELINING\r\n",
            "8BITMIME\r\n",
            "ENHANCEDSTATUSCODES\r\n",
        ] {
            assert!(
                text.contains(capability),
                "{capability} missing from {text}"
            );
        }
        assert_eq!(codes(&text), vec![250]);
    }

    #[test]
    fn parameters_we_did_not_offer_get_555_and_the_ones_we_did_are_taken() {
        let mut session = Session::new(limits());
        let text = written(&feed(
            &mut session,
            b"EHLO c\r\n\
              MAIL FROM:<a@remote.test> RET=HDRS\r\n\
              MAIL FROM:<a@remote.test> ENVID=x1\r\n\
              MAIL FROM:<a@remote.test> BODY=BINARYMIME\r\n\
              MAIL FROM:<a@remote.test> SIZE=10 BODY=8BITMIME SMTPUTF8\r\n\
              RCPT TO:<bob@example.com> NOTIFY=NEVER\r\n\
              RCPT TO:<bob@example.com> ORCPT=rfc822;bob@example.com\r\n\
              RCPT TO:<bob@example.com>\r\n",
        ));
        assert_eq!(
            codes(&text),
            vec![250, 555, 555, 555, 250, 555, 555, 250],
            "{text}"
        );
        assert!(text.contains("555 5.5.4 Unsupported parameter"), "{text}");
        // Each of the other extensions' MAIL parameters on its own.
        for param in [
            "HOLDFOR=60",
            "HOLDUNTIL=2026-12-07T10:00:00Z",
            "MT-PRIORITY=3",
            "AUTH=<>",
            "BY=120;R",
        ] {
            let mut session = Session::new(limits());
            let mail = format!("EHLO c\r\nMAIL FROM:<a@remote.test> {param}\r\n");
            let text = written(&feed(&mut session, mail.as_bytes()));
            assert_eq!(codes(&text), vec![250, 555], "{param}: {text}");
        }
    }

    #[test]
    fn a_domainless_postmaster_is_a_recipient_standing_for_the_operator_s() {
        let mut session = Session::new(limits());
        let steps = feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<PostMaster>\r\n\
              RCPT TO:<>\r\nDATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\n",
        );
        let text = written(&steps);
        assert_eq!(codes(&text), vec![250, 250, 250, 501, 354], "{text}");
        let delivered = messages(&steps);
        assert_eq!(delivered[0].0.rcpts, vec!["postmaster@example.com"]);
        // A server with no operator mailbox says so as for any bad path.
        let mut session = Session::new(SessionLimits {
            postmaster: None,
            ..limits()
        });
        let text = written(&feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<postmaster>\r\n",
        ));
        assert_eq!(codes(&text), vec![250, 250, 501], "{text}");
    }

    #[test]
    fn a_domainless_postmaster_is_no_sender_and_not_the_null_one() {
        let mut session = Session::new(limits());
        let text = written(&feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<PostMaster>\r\nMAIL FROM:< >\r\nRSET\r\nMAIL FROM:<>\r\n",
        ));
        assert_eq!(codes(&text), vec![250, 501, 250, 250, 250], "{text}");
        assert!(text.contains("501 5.1.7"), "{text}");
    }

    #[test]
    fn full_transaction_delivers_one_message_with_its_envelope() {
        let mut session = Session::new(limits());
        let mut steps = Vec::new();
        for line in [
            "HELO client.test\r\n",
            "MAIL FROM:<sender@remote.test>\r\n",
            "RCPT TO:<alice@example.com>\r\n",
            "DATA\r\n",
            "Subject: hi\r\n\r\nhello\r\n.\r\n",
        ] {
            steps.extend(feed(&mut session, line.as_bytes()));
        }
        assert_eq!(codes(&written(&steps)), vec![250, 250, 250, 354]);
        let delivered = messages(&steps);
        assert_eq!(delivered.len(), 1);
        let (envelope, data) = &delivered[0];
        assert_eq!(envelope.mail_from, "sender@remote.test");
        assert_eq!(envelope.rcpts, vec!["alice@example.com".to_string()]);
        assert_eq!(envelope.helo, "client.test");
        assert_eq!(data, b"Subject: hi\r\n\r\nhello\r\n");
        assert!(session.is_awaiting_answer());
        assert_eq!(
            session.answer_message(250, "2.0.0", "queued as 1"),
            b"250 2.0.0 queued as 1\r\n"
        );
        assert!(!session.is_awaiting_answer());
        // The transaction is reset but HELO is kept.
        let text = written(&feed(
            &mut session,
            b"RCPT TO:<alice@example.com>\r\nMAIL FROM:<>\r\nQUIT\r\n",
        ));
        assert_eq!(codes(&text), vec![503, 250, 221]);
    }

    #[test]
    fn dot_stuffed_lines_are_unstuffed_on_receive() {
        let mut session = Session::new(limits());
        feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n",
        );
        let steps = feed(&mut session, b"..\r\n...\r\n..leading\r\nmid.dle\r\n.\r\n");
        let delivered = messages(&steps);
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].1, b".\r\n..\r\n.leading\r\nmid.dle\r\n");
        assert_eq!(delivered[0].0.mail_from, "");
    }

    #[test]
    fn a_message_split_into_single_bytes_is_reassembled() {
        let mut session = Session::new(limits());
        let input = b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n..a\r\nb\r\n.\r\n";
        let mut steps = Vec::new();
        for byte in input {
            steps.extend(feed(&mut session, &[*byte]));
        }
        assert_eq!(codes(&written(&steps)), vec![250, 250, 250, 354]);
        assert_eq!(messages(&steps)[0].1, b".a\r\nb\r\n");
    }

    #[test]
    fn an_empty_body_is_an_empty_message() {
        let mut session = Session::new(limits());
        let steps = feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n.\r\n",
        );
        assert_eq!(messages(&steps)[0].1, b"");
    }

    #[test]
    fn a_bare_line_feed_in_data_is_refused_with_554_and_the_session_closes() {
        let mut session = Session::new(limits());
        feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n",
        );
        // "\n.\r\n" is a smuggling attempt: neither the end of data nor a
        // line we would store; what follows must never run as a command.
        let steps = feed(
            &mut session,
            b"a\n.\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<alice@example.com>\r\n",
        );
        assert!(messages(&steps).is_empty());
        assert_eq!(codes(&written(&steps)), vec![554]);
        assert!(written(&steps).contains("bare <LF>"));
        assert_eq!(steps.last(), Some(&Step::Close));
        assert!(feed(&mut session, b"QUIT\r\n").is_empty());
    }

    #[test]
    fn a_dot_after_crlf_then_a_bare_line_feed_is_refused_not_stored_as_an_empty_line() {
        let mut session = Session::new(limits());
        let steps = feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\na\r\n.\nb\r\n.\r\n",
        );
        assert!(messages(&steps).is_empty());
        assert_eq!(codes(&written(&steps)), vec![250, 250, 250, 354, 554]);
    }

    #[test]
    fn a_bare_carriage_return_in_data_is_refused_too() {
        let mut session = Session::new(limits());
        let steps = feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nb\r.\r\nc\r\n.\r\n",
        );
        assert!(messages(&steps).is_empty());
        assert!(written(&steps).ends_with("554 5.5.2 Error: bare <CR> received\r\n"));
        assert_eq!(steps.last(), Some(&Step::Close));
    }

    #[test]
    fn smtputf8_is_offered_and_a_declaration_is_kept_in_the_envelope() {
        let mut session = Session::new(limits());
        let ehlo = written(&feed(&mut session, b"EHLO c\r\n"));
        assert!(ehlo.contains("250-SMTPUTF8\r\n") || ehlo.contains("250 SMTPUTF8\r\n"));
        assert!(ehlo.contains("8BITMIME"));
        let steps = feed(
            &mut session,
            b"MAIL FROM:<s@r.test> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nx\r\n.\r\n",
        );
        assert!(messages(&steps)[0].0.smtputf8);
        session.answer_message(250, "2.0.0", "ok");
        let steps = feed(
            &mut session,
            b"MAIL FROM:<s@r.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nx\r\n.\r\n",
        );
        assert!(!messages(&steps)[0].0.smtputf8);
    }

    #[test]
    fn pipelined_commands_get_replies_in_order() {
        let mut session = Session::new(limits());
        feed(&mut session, b"EHLO client.test\r\n");
        let steps = feed(
            &mut session,
            b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nbody\r\n.\r\n",
        );
        // The replies go out in one write, before the message is handed over.
        assert!(matches!(steps.first(), Some(Step::Write(_))));
        assert!(matches!(steps.get(1), Some(Step::Message { .. })));
        assert_eq!(steps.len(), 2);
        assert_eq!(codes(&written(&steps)), vec![250, 250, 550, 250, 354]);
        let (envelope, data) = &messages(&steps)[0];
        assert_eq!(
            envelope.rcpts,
            vec![
                "alice@example.com".to_string(),
                "bob@example.com".to_string()
            ]
        );
        assert_eq!(data, b"body\r\n");
    }

    #[test]
    fn unknown_user_gets_550_5_1_1_and_foreign_domain_gets_550_5_7_1() {
        let mut session = Session::new(limits());
        let text = written(&feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<x@elsewhere.test>\r\nRCPT TO:<x@busy.example.com>\r\nDATA\r\n",
        ));
        assert!(text.contains("550 5.1.1 "), "{text}");
        assert!(text.contains("550 5.7.1 "), "{text}");
        assert!(text.contains("451 4.3.0 "), "{text}");
        // No recipient was accepted, so DATA is out of sequence.
        assert_eq!(codes(&text), vec![250, 250, 550, 550, 451, 503]);
    }

    #[test]
    fn recipients_beyond_the_limit_get_452() {
        let mut session = Session::new(limits());
        let text = written(&feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<carol@example.com>\r\nRCPT TO:<dave@example.com>\r\n",
        ));
        assert_eq!(codes(&text), vec![250, 250, 250, 250, 250, 250, 452]);
        assert!(text.contains("452 4.5.3 "), "{text}");
    }

    #[test]
    fn size_parameter_over_the_limit_gets_552() {
        let mut session = Session::new(limits());
        let text = written(&feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<s@remote.test> SIZE=1001\r\nMAIL FROM:<s@remote.test> SIZE=1000\r\n",
        ));
        assert_eq!(codes(&text), vec![250, 552, 250]);
        assert!(text.contains("552 5.3.4 "), "{text}");
    }

    #[test]
    fn oversized_body_is_read_to_the_end_and_rejected_with_552() {
        let mut session = Session::new(limits());
        feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n",
        );
        let line = [b'x'; 98];
        let mut steps = Vec::new();
        for _ in 0..20 {
            steps.extend(feed(&mut session, &line));
            steps.extend(feed(&mut session, b"\r\n"));
        }
        assert!(steps.is_empty(), "nothing is answered before the final dot");
        assert!(
            session.body.bytes.is_empty(),
            "an oversized body is not kept"
        );
        let steps = feed(&mut session, b".\r\nNOOP\r\n");
        assert!(messages(&steps).is_empty());
        let text = written(&steps);
        assert!(text.starts_with("552 5.3.4 "), "{text}");
        assert_eq!(codes(&text), vec![552, 250]);
        // The transaction is gone: DATA needs a new MAIL.
        assert_eq!(codes(&written(&feed(&mut session, b"DATA\r\n"))), vec![503]);
    }

    #[test]
    fn a_body_exactly_at_the_limit_is_accepted() {
        let mut session = Session::new(limits());
        feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n",
        );
        let mut body = vec![b'y'; 998];
        body.extend_from_slice(b"\r\n.\r\n");
        let steps = feed(&mut session, &body);
        assert_eq!(messages(&steps)[0].1.len(), 1000);
    }

    #[test]
    fn commands_out_of_sequence_get_503() {
        let mut session = Session::new(limits());
        let text = written(&feed(
            &mut session,
            b"MAIL FROM:<s@remote.test>\r\nHELO c\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nMAIL FROM:<s@remote.test>\r\nMAIL FROM:<s@remote.test>\r\nDATA\r\n",
        ));
        assert_eq!(codes(&text), vec![503, 250, 503, 503, 250, 503, 503]);
        assert!(text.starts_with("503 5.5.1 "), "{text}");
    }

    #[test]
    fn rset_clears_the_transaction_but_keeps_helo() {
        let mut session = Session::new(limits());
        let text = written(&feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nRSET\r\nDATA\r\nMAIL FROM:<>\r\nNOOP\r\nVRFY bob\r\n",
        ));
        assert_eq!(codes(&text), vec![250, 250, 250, 250, 503, 250, 250, 252]);
    }

    #[test]
    fn garbage_bytes_get_500_without_panic() {
        let mut session = Session::new(limits());
        let text = written(&feed(
            &mut session,
            b"\x00\x01\x02 hello\r\nFOO BAR\r\n\r\n",
        ));
        assert_eq!(codes(&text), vec![500, 500, 500]);
        assert!(text.starts_with("500 5.5.2 "), "{text}");
    }

    #[test]
    fn non_utf8_command_gets_500() {
        let mut session = Session::new(limits());
        let text = written(&feed(&mut session, b"EHLO \xff\xfe\r\nNOOP\r\n"));
        assert_eq!(codes(&text), vec![500, 250]);
    }

    #[test]
    fn a_5000_byte_line_without_crlf_gets_500_and_is_discarded() {
        let mut session = Session::new(limits());
        let long = vec![b'A'; 5000];
        let text = written(&feed(&mut session, &long));
        assert_eq!(codes(&text), vec![500]);
        assert!(text.contains("Line too long"), "{text}");
        assert!(
            session.pending().is_empty(),
            "the long line is not buffered"
        );
        // More of the same line is silently dropped up to its newline.
        let text = written(&feed(&mut session, &long));
        assert_eq!(text, "");
        let text = written(&feed(&mut session, b"tail\r\nNOOP\r\n"));
        assert_eq!(codes(&text), vec![250]);
    }

    #[test]
    fn a_complete_line_over_the_limit_gets_500() {
        let mut session = Session::new(limits());
        let mut line = b"NOOP ".to_vec();
        line.extend(vec![b'a'; 1200]);
        line.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(codes(&written(&feed(&mut session, &line))), vec![500, 250]);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_accepted() {
        // The limit counts the CRLF (RFC 5321 4.5.3.1.4: 512 octets
        // "including the <CRLF>"), so a line that fills it is a command.
        let line_max = limits().line_bytes_max;
        let mut session = Session::new(limits());
        for (padding, code) in [(line_max - "NOOP \r\n".len(), 250), (line_max - 6, 500)] {
            let mut line = b"NOOP ".to_vec();
            line.extend(vec![b'a'; padding]);
            line.extend_from_slice(b"\r\n");
            assert_eq!(codes(&written(&feed(&mut session, &line))), vec![code]);
        }
    }

    #[test]
    fn quit_replies_221_and_closes() {
        let mut session = Session::new(limits());
        let steps = feed(&mut session, b"EHLO c\r\nQUIT\r\nNOOP\r\n");
        assert_eq!(steps.last(), Some(&Step::Close));
        let text = written(&steps);
        assert_eq!(codes(&text), vec![250, 221]);
        assert!(feed(&mut session, b"NOOP\r\n").is_empty());
    }

    #[test]
    fn too_many_bad_commands_close_the_connection_with_421() {
        let mut session = Session::new(limits());
        let steps = feed(&mut session, &b"BOGUS\r\n".repeat(20));
        assert_eq!(steps.last(), Some(&Step::Close));
        let mut expected = vec![500; BAD_COMMANDS_CONSECUTIVE_MAX as usize];
        expected.push(421);
        assert_eq!(codes(&written(&steps)), expected);
    }

    #[test]
    fn a_good_command_resets_the_bad_command_count() {
        let mut session = Session::new(limits());
        let mut input = b"BOGUS\r\n".repeat(9);
        input.extend_from_slice(b"NOOP\r\n");
        input.extend(b"BOGUS\r\n".repeat(9));
        let steps = feed(&mut session, &input);
        assert!(!steps.contains(&Step::Close));
    }

    #[test]
    fn a_pending_message_holds_back_the_pipelined_next_command() {
        let mut session = Session::new(limits());
        let steps = feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\none\r\n.\r\nMAIL FROM:<s@remote.test>\r\nNOOP\r\n",
        );
        assert_eq!(messages(&steps).len(), 1);
        assert!(session.is_awaiting_answer());
        assert!(
            feed(&mut session, b"RSET\r\n").is_empty(),
            "nothing moves until the answer"
        );
        assert_eq!(
            session.answer_message(451, "4.3.0", "try later"),
            b"451 4.3.0 try later\r\n"
        );
        let text = written(&drain(&mut session));
        assert_eq!(codes(&text), vec![250, 250, 250]);
    }

    #[test]
    fn a_421_answer_closes_the_session() {
        let mut session = Session::new(limits());
        feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n",
        );
        let reply = session.answer_message(421, "4.3.2", "shutting down");
        assert_eq!(reply, b"421 4.3.2 shutting down\r\n");
        assert_eq!(drain(&mut session), vec![Step::Close]);
    }

    #[test]
    fn answer_text_cannot_inject_a_second_reply() {
        let mut session = Session::new(limits());
        feed(
            &mut session,
            b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nx\r\n.\r\n",
        );
        let reply = session.answer_message(250, "2.0.0", "ok\r\n250 forged");
        assert_eq!(reply, b"250 2.0.0 ok  250 forged\r\n");
    }

    /// A deterministic generator so the no-panic sweep is reproducible.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Bytes biased towards SMTP's alphabet so the parser gets past the verb.
    fn random_input(rng: &mut XorShift) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"EHLO x\r\n",
            b"HELO ",
            b"MAIL FROM:<",
            b"RCPT TO:<",
            b"bob@example.com>",
            b">",
            b" SIZE=",
            b"99999999999999999999",
            b"DATA\r\n",
            b"\r\n",
            b"\n",
            b"\r",
            b".",
            b"..",
            b"\r\n.\r\n",
            b"QUIT\r\n",
            b"RSET\r\n",
            b"NOOP",
            b"\xff",
            b"\x00",
            b" ",
            b"<>",
            b"BDAT 10 LAST\r\n",
            b"AUTH PLAIN",
            b"\"",
            b"\\",
            b"@",
            b":",
        ];
        let mut input = Vec::new();
        let pieces = rng.next() % 40;
        for _ in 0..pieces {
            let roll = rng.next();
            if roll.is_multiple_of(3) {
                input.push((roll >> 8) as u8);
            } else {
                input.extend_from_slice(PIECES[(roll >> 8) as usize % PIECES.len()]);
            }
        }
        input
    }

    #[test]
    fn random_bytes_never_panic_and_never_buffer_beyond_a_line() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut messages_seen = 0;
        let mut closes_seen = 0;
        for round in 0..500u32 {
            let mut session = Session::new(SessionLimits {
                line_bytes_max: 64,
                message_bytes_max: 200,
                ..limits()
            });
            // Half the rounds open a transaction first so the body reader
            // gets fuzzed too, not just the command parser.
            let mut input = if round.is_multiple_of(2) {
                b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n".to_vec()
            } else {
                Vec::new()
            };
            input.extend(random_input(&mut rng));
            let mut offset = 0;
            while offset < input.len() {
                let chunk = 1 + (rng.next() % 16) as usize;
                let end = (offset + chunk).min(input.len());
                session.push(&input[offset..end]);
                offset = end;
                let mut check = directory;
                while let Some(step) = session.next(&mut check) {
                    match step {
                        Step::Message { data, .. } => {
                            assert!(data.len() <= 200);
                            messages_seen += 1;
                            let code = [250, 451, 554][(rng.next() % 3) as usize];
                            session.answer_message(code, "2.0.0", "answered");
                        }
                        Step::Close => closes_seen += 1,
                        Step::Write(bytes) => assert!(bytes.ends_with(b"\r\n")),
                    }
                }
                if matches!(session.phase, Phase::Command) {
                    assert!(
                        session.pending().len() < 64,
                        "a command line is never buffered beyond the limit"
                    );
                }
                assert!(session.body.bytes.len() <= 200);
            }
        }
        assert!(
            messages_seen > 20,
            "only {messages_seen} messages: the sweep misses the body reader"
        );
        assert!(
            closes_seen > 20,
            "only {closes_seen} closes: the sweep misses QUIT and 421"
        );
    }
}
