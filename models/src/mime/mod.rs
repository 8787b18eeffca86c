//! MIME work with mail-parser: the scanner's verdict, and DSNs (RFC 3464).

pub mod dsn;
pub mod verdict;
