//! `mailsim serve`: the same gateway code, for real, on 127.0.0.1. Real
//! sockets, real files with fsync, the wall clock, one process per region
//! (so a region can be killed and restarted), and tenant mailboxes that
//! write Maildir — so real SMTP clients (smtplib, swaks, Postfix) can be
//! pointed at it. The engine side of the seam is `engine::real_env`.

pub mod config;
pub mod launcher;
pub mod maildir;
pub mod node;
pub mod ports;
pub mod roles;
pub mod validate;
