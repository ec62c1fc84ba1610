//! Source text to syntax tree: layout resolution, the pest grammar, and the
//! lowering of pest's pairs into [`ast`] nodes with original byte spans.

pub mod ast;
mod errors;
pub mod layout;
mod lower;

use crate::diag::Diagnostic;

/// Parses a whole file. A syntax error stops the parse; it is returned alone.
pub fn parse(src: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let resolved = layout::resolve(src).map_err(|d| vec![d])?;
    lower::parse_resolved(&resolved)
}

/// Parses raw bytes, reporting input that is not UTF-8 as a diagnostic.
pub fn parse_bytes(bytes: &[u8]) -> Result<ast::File, Vec<Diagnostic>> {
    match std::str::from_utf8(bytes) {
        Ok(src) => parse(src),
        Err(e) => Err(vec![layout::not_utf8(e.valid_up_to())]),
    }
}
