//! Source text to syntax tree: layout resolution, the pest grammar, and the
//! lowering of pest's pairs into [`ast`] nodes with original byte spans.

pub mod ast;
mod errors;
pub mod layout;
mod lower;
mod split;

use crate::diag::Diagnostic;

/// Parses a whole file. A syntax error stops the parse; it is returned alone.
pub fn parse(src: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let resolved = layout::resolve(src).map_err(|d| vec![d])?;
    lower::parse_resolved(&resolved)
}

/// Parses a whole file on the calling thread only (the result equals [`parse`]'s).
pub fn parse_sequential(src: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let resolved = layout::resolve(src).map_err(|d| vec![d])?;
    lower::parse_sequential(&resolved)
}

/// Parses a file cut into `pieces` parsed on as many threads, as [`parse`]
/// does for large files; `None` when the file has no indented protocol body
/// long enough to cut, or a piece does not parse. For tests and benchmarks.
#[doc(hidden)]
pub fn parse_in_pieces(src: &str, pieces: usize) -> Option<ast::File> {
    let resolved = layout::resolve(src).ok()?;
    split::parse_in_pieces(&resolved, pieces)
}

/// Parses raw bytes, reporting input that is not UTF-8 as a diagnostic.
pub fn parse_bytes(bytes: &[u8]) -> Result<ast::File, Vec<Diagnostic>> {
    match std::str::from_utf8(bytes) {
        Ok(src) => parse(src),
        Err(e) => Err(vec![layout::not_utf8(e.valid_up_to())]),
    }
}

#[cfg(test)]
mod tests {
    use super::ast::{Literal, StmtKind};

    #[test]
    fn string_escapes_are_resolved() {
        let src =
            "protocol P =\n  roles A, B\n  A[audit_log = \"say \\\"hi\\\" \\\\ there\"] -> B : M\n";
        let file = super::parse(src).expect("parses");
        let StmtKind::Message(m) = &file.protocols[0].body[0].kind else {
            panic!("a message")
        };
        let Literal::Str(s, span) = &m.from.annotations[0].value else {
            panic!("a string")
        };
        assert_eq!(s, "say \"hi\" \\ there");
        assert_eq!(&src[span.start..span.end], "\"say \\\"hi\\\" \\\\ there\"");
    }

    #[test]
    fn payload_types_are_kept_as_written_without_layout() {
        let src = "protocol P =\n  roles A, B\n  A -> B : M(v: Vec< u8 >, k: [u8 ;32], t: (A,B))\n";
        let file = super::parse(src).expect("parses");
        let StmtKind::Message(m) = &file.protocols[0].body[0].kind else {
            panic!("a message")
        };
        let Some(super::ast::Payload::Fields(f)) = &m.payload else {
            panic!("fields")
        };
        let types: Vec<&str> = f.iter().map(|f| f.ty.text.as_str()).collect();
        assert_eq!(types, ["Vec<u8>", "[u8; 32]", "(A, B)"]);
    }
}
