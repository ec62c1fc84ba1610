//! Journal synchronisation protocols (`protocols/sync/`).

pub mod epochs;
