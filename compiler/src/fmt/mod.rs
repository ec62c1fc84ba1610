//! `choreoc fmt`: the canonical layout of a `.choreo` file.
//!
//! The file is parsed, printed from its syntax tree in one layout
//! ([`printer`]), and its comments are woven back between the same tokens
//! ([`weave`]). Before the text is handed back, it is parsed and checked again
//! and compared with the original ([`verify`]): the checked model, the
//! diagnostics, every projection and every comment must be equal, or the
//! formatter refuses (`E1101`) and the file is left alone.

mod comments;
mod printer;
mod verify;
mod weave;

use crate::diag::{Code, Diagnostic, SourceFile, Span};
use crate::syntax;
use std::path::Path;

pub use verify::{difference, meaning, Meaning};

/// The canonical layout of `src`, or why it cannot be given: syntax errors,
/// or `E1101` when the result would not mean the same. `stem` names the
/// module when the file has no `module` line.
pub fn format(src: &str, stem: &str) -> Result<String, Vec<Diagnostic>> {
    let file = syntax::parse(src)?;
    let comments = comments::scan(src);
    let lines = printer::print(&file, src, &comments);
    let text = weave::weave(&lines, src, &comments);
    let before = verify::meaning_of(&file, src, stem);
    accept(&before, text, stem)
}

/// Hands back `text` if it means what `original` (a text that parses)
/// means, else `E1101`: the formatter's last step, public so that its
/// refusal can be tested.
pub fn accept_formatted(
    original: &str,
    text: String,
    stem: &str,
) -> Result<String, Vec<Diagnostic>> {
    accept(&verify::meaning(original, stem)?, text, stem)
}

fn accept(before: &Meaning, text: String, stem: &str) -> Result<String, Vec<Diagnostic>> {
    let why = match verify::meaning(&text, stem) {
        Err(d) => Some(format!(
            "the formatted text does not parse ({})",
            d.first().map_or("", |d| d.code.as_str())
        )),
        Ok(after) => verify::difference(before, &after),
    };
    match why {
        None => Ok(text),
        Some(why) => Err(vec![Diagnostic::new(
            Code::FmtChangesMeaning,
            format!("formatting would change what this file means: {why}; it was left as it is"),
            Span::new(0, 0),
            "in this file",
        )
        .with_help("this is a bug in `choreoc fmt`: please report it with the file")]),
    }
}

/// The canonical layout of `src` without the safety check of [`format`]
/// (for tests of the checker itself).
#[doc(hidden)]
pub fn format_unchecked(src: &str) -> Result<String, Vec<Diagnostic>> {
    let file = syntax::parse(src)?;
    let comments = comments::scan(src);
    let lines = printer::print(&file, src, &comments);
    Ok(weave::weave(&lines, src, &comments))
}

/// One file given to the formatter.
#[derive(Debug)]
pub struct Outcome {
    /// The source, for rendering diagnostics.
    pub file: SourceFile,
    /// The formatted text, or why there is none.
    pub result: Result<String, Vec<Diagnostic>>,
}

impl Outcome {
    /// Whether the file was formatted and its layout changes.
    pub fn changed(&self) -> bool {
        self.result
            .as_ref()
            .is_ok_and(|text| text != self.file.text())
    }
}

/// Formats the bytes of the file called `name`.
pub fn format_bytes(name: &str, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let result = match std::str::from_utf8(bytes) {
        Err(e) => Err(vec![syntax::layout::not_utf8(e.valid_up_to())]),
        Ok(src) => {
            let stem = Path::new(name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("main");
            format(src, stem)
        }
    };
    Outcome {
        file: SourceFile::new(name, text),
        result,
    }
}

/// A unified diff from `old` to `new` (three lines of context), headed by
/// the file's name; empty when they are equal.
pub fn unified_diff(name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(name, &format!("{name} (formatted)"))
        .to_string()
}
