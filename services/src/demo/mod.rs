//! Demo protocols (`protocols/demo/`).

pub mod coordination;
