//! Rendezvous protocols (`protocols/rendezvous/`).

pub mod relayed_rendezvous;
pub mod rendezvous_exchange;

pub use relayed_rendezvous::{RelayEnvelope, RelayRequest, SealedHandshake};
pub use rendezvous_exchange::{NegotiatedVersion, NoiseHandshake, TransportDescriptor};
