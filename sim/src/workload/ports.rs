//! The well-known ports the world's hosts use, taken from the standards
//! rather than from the gateway's configuration, so a witness never shares
//! a constant with what it judges: SMTP servers listen on port 25 (RFC 5321
//! §4.5.4.2, "the SMTP port (specified by IANA as port 25)"), DNS servers
//! on port 53, over TCP as over UDP (RFC 1035 §4.2.1 and §4.2.2).

/// Where mail servers listen (RFC 5321 §4.5.4.2).
pub const SMTP: u16 = 25;

/// Where DNS servers listen (RFC 1035 §4.2.2).
pub const DNS: u16 = 53;
