//! Authentication protocols (`protocols/authentication/`).

pub mod dkd;
pub mod guardian_auth_relational;
