//! `choreoc`: the compiler for choreographic protocols written in `.choreo`.
//!
//! Data flows one way: source text → [`syntax`] (syntax tree with byte spans)
//! → [`check`] (the checked model) → [`project`] (local types per role).

pub mod audit;
pub mod breaking;
pub mod check;
pub mod diag;
pub mod driver;
pub mod emit;
pub mod fmt;
pub mod project;
pub mod simulate;
pub mod syntax;
