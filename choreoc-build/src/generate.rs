//! The one place that turns a checked protocol into the text of its Rust
//! module. Everything else in this crate (inputs, Cargo directives,
//! diagnostics, writing) does not depend on what that text looks like.

use choreoc::check::model::Protocol;
use choreoc::diag::SourceFile;
use choreoc::emit::rust::{crate_dir, render, RuntimeDep};
use choreoc::project::Projection;

/// The file a protocol's module is written to: `<protocol_snake>.rs`.
pub(crate) fn file_name(protocol: &Protocol) -> String {
    format!("{}.rs", crate_dir(&protocol.name))
}

/// The Rust source of a protocol's module.
///
/// For now this is the `src/lib.rs` of the crate `choreoc build` writes,
/// which is a crate root (inner attributes, a `scripted` feature) and so
/// cannot yet be `include!`d into another crate: the module form of the
/// generated code (issue 13, item 1) replaces this body.
pub(crate) fn module(
    protocol: &Protocol,
    projection: &Projection,
    source: &str,
    file: &SourceFile,
) -> String {
    let line_of = |offset: usize| file.line_col(offset).line;
    let runtime = RuntimeDep::Version(env!("CARGO_PKG_VERSION").into());
    render(protocol, projection, source, &line_of, &runtime)
        .into_iter()
        .find(|f| f.path.ends_with("/src/lib.rs"))
        .map(|f| f.content)
        .unwrap_or_default()
}
