//! SMTP (RFC 5321): the server session state machine (no IO), the client
//! used for delivery and by simulated senders, and the body encoding both
//! share.

pub mod body;
pub mod client;
pub mod session;
