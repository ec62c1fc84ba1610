//! Transport and channel protocols (`protocols/transport/`).

pub mod amp_transport;
