//! Rendezvous protocols (`protocols/rendezvous/`).

pub mod rendezvous_exchange;

pub use rendezvous_exchange::{HandshakeOutcome, NoiseHandshake, TransportDescriptor};
