//! MIME work with mail-parser: the scanner's verdict, DSNs (RFC 3464), and
//! header dates.

pub mod date;
pub mod dsn;
pub mod verdict;
