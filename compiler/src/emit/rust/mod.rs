//! Rust code generation (`choreoc build`): one crate per protocol, rendered
//! from the askama templates in `templates/`.

pub mod names;
pub mod types;
