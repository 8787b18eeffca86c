//! The simulated world outside the gateway: senders, DNS, mailbox servers.

pub mod dns;
pub mod dns_answer;
pub mod dns_frame;
pub mod dsn_reader;
pub mod mailbox;
pub mod mailbox_faults;
pub mod many_rcpts;
pub mod mime;
pub mod multipart;
pub mod mx_query;
pub mod ports;
pub mod sender;
pub mod size_edge;
pub mod smtp_client;
pub mod smtp_reply;
