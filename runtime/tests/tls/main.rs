//! The TLS transport on loopback: exchange between nodes, refusals of bad
//! peers, network faults through a proxy (for frames and for sessions), bad
//! input at the session level, a node in a child process, and the
//! configuration file with its roster sections. Every wait is bounded by `harness::PATIENCE`.
#![cfg(feature = "tls")]

mod config;
mod exchange;
mod faults;
mod harness;
mod process;
mod proxy;
mod refusals;
mod roster;
mod session;
mod session_faults;
