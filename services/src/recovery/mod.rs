//! Recovery protocols (`protocols/recovery/`).

pub mod guardian_ceremony;
