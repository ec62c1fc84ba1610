//! The delivery layer under sessions: the [`contract`] every transport
//! implements, and the transports of this crate.

pub mod contract;
pub mod memory;
#[cfg(feature = "tls")]
pub mod tls;

pub use contract::{Inbound, NodeId, Route, SendPermit, SessionId, Transport, TransportError};
