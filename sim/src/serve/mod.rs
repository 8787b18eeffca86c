//! `mailsim serve`: the same gateway code, for real, on 127.0.0.1. Real
//! sockets, real files with fsync, the wall clock, one process per region
//! (so a region can be killed and restarted), and tenant mailboxes that
//! write Maildir — so real SMTP clients (smtplib, swaks, Postfix) can be
//! pointed at it. Real mode's side of the seam (`models::env::Env` on real
//! sockets, files and clocks) is `real_env`, here rather than in `engine/`:
//! it is no simulation engine, and only `serve` uses it.

pub mod config;
pub mod launcher;
pub mod maildir;
pub mod node;
pub mod ports;
pub mod real_env;
pub mod roles;
pub mod validate;
