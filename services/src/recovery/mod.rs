//! Recovery protocols (`protocols/recovery/`).

pub mod guardian_ceremony;
pub mod guardian_setup;
