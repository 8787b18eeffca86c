//! SMTP (RFC 5321): the server session state machine (no IO) and the client
//! used for delivery and by simulated senders.

pub mod client;
pub mod session;
