//! Authentication protocols (`protocols/authentication/`).

pub mod guardian_auth_relational;
