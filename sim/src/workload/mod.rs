//! The simulated world outside the gateway: senders, DNS, mailbox servers.

pub mod dns;
pub mod mailbox;
pub mod mime;
pub mod sender;
