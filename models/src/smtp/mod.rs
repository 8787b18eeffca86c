//! SMTP (RFC 5321): the server session state machine (no IO), the client
//! used for delivery and by simulated senders, the body encoding both
//! share, and the `Received:` trace field each hop adds.

pub mod body;
pub mod client;
pub mod received;
pub mod session;
