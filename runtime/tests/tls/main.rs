//! The TLS transport on loopback: exchange between nodes, refusals of bad
//! peers, network faults through a proxy, a node in a child process, and the
//! configuration file. Every wait is bounded by `harness::PATIENCE`.
#![cfg(feature = "tls")]

mod config;
mod exchange;
mod faults;
mod harness;
mod process;
mod proxy;
mod refusals;
mod session;
