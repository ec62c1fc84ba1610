//! The one place that turns a checked protocol into the text of its Rust
//! module. Everything else in this crate (inputs, Cargo directives,
//! diagnostics, writing) does not depend on what that text looks like.

use choreoc::check::model::Protocol;
use choreoc::diag::SourceFile;
use choreoc::emit::rust::{crate_dir, render_module, ModuleOptions};
use choreoc::project::Projection;

/// The file a protocol's module is written to: `<protocol_snake>.rs`.
pub(crate) fn file_name(protocol: &Protocol) -> String {
    format!("{}.rs", crate_dir(&protocol.name))
}

/// The Rust source of a protocol's module: one `pub mod <protocol_snake>`
/// with the same items as the crate `choreoc build` writes, for `include!`.
pub(crate) fn module(
    protocol: &Protocol,
    projection: &Projection,
    source: &str,
    file: &SourceFile,
    options: &ModuleOptions,
) -> String {
    let line_of = |offset: usize| file.line_col(offset).line;
    render_module(protocol, projection, source, &line_of, options)
}
