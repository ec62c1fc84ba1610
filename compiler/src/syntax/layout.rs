//! Layout resolution: turns significant indentation into explicit block
//! structure, before the grammar runs.
//!
//! The rules (language reference, section 2): indentation is spaces only; a
//! line indented deeper than the line before it opens a block; a line that
//! returns to an outer column closes every block deeper than it, and must land
//! exactly on the column of an open block. Blank and comment-only lines never
//! open or close blocks. Inside explicit `{ ... }` indentation is ignored and
//! each line is a new statement; inside `( ... )` and `[ ... ]` a line break is
//! plain whitespace (a long annotation list may wrap). A line that begins with
//! `{` continues the line before it (an explicit block on its own line).
//!
//! The result is a copy of the source with three virtual characters inserted
//! (block open, block close, line separator), plus the offsets needed to map
//! every position in that copy back to the original text. Comments, tabs,
//! carriage returns and a byte-order mark are blanked to spaces byte for byte
//! in that copy (strings are left alone), so the grammar needs no comment rule
//! and whitespace is just `" "` and `"\n"`.

use crate::diag::{Code, Diagnostic, Span};

/// Opens a block, like `{`.
pub const OPEN: char = '\u{02}';
/// Closes a block, like `}`.
pub const CLOSE: char = '\u{03}';
/// Separates two statements of a block, like `;`.
pub const SEP: char = '\u{1E}';

/// How deeply blocks, brackets and block comments may nest. Deeper input is
/// rejected with `E0004` rather than risking the stack of a recursive stage.
pub const MAX_NESTING: usize = 256;

/// The layout-resolved text.
#[derive(Debug)]
pub struct Resolved {
    /// The source with virtual characters inserted.
    pub text: String,
    /// Offsets in `text` of every inserted character, ascending.
    inserted: Vec<usize>,
    /// Separators between the top-level statements of an indented protocol
    /// body: (offset in `text`, which top-level item). The text may be split
    /// there and the pieces parsed in parallel.
    pub(super) body_seps: Vec<(usize, usize)>,
}

impl Resolved {
    /// Maps an offset in the resolved text to the original source.
    pub fn to_source(&self, offset: usize) -> usize {
        offset - self.inserted.partition_point(|&p| p < offset)
    }

    /// Maps a span of the resolved text to the original source.
    pub fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.to_source(start), self.to_source(end))
    }

    /// The virtual character at `offset` of the resolved text, if any.
    pub fn virtual_at(&self, offset: usize) -> Option<char> {
        self.text
            .get(offset..)?
            .chars()
            .next()
            .filter(|c| matches!(*c, OPEN | CLOSE | SEP))
    }
}

/// Resolves the layout of `src`, or reports the first layout problem.
pub fn resolve(src: &str) -> Result<Resolved, Diagnostic> {
    Layout::new(src).run()
}

struct Layout<'a> {
    src: &'a str,
    bytes: &'a [u8],
    out: Vec<u8>,
    inserted: Vec<usize>,
    copied: usize,
    stack: Vec<usize>,
    /// The offset of the first token of each open indented block (beside `stack`).
    block_starts: Vec<usize>,
    braces: usize,
    brackets: usize,
    body_seps: Vec<(usize, usize)>,
    items: usize,
    after_attribute: bool,
}

impl<'a> Layout<'a> {
    fn new(src: &'a str) -> Self {
        Layout {
            src,
            bytes: src.as_bytes(),
            out: Vec::with_capacity(src.len() + src.len() / 16 + 16),
            inserted: Vec::new(),
            copied: 0,
            stack: vec![0],
            block_starts: vec![0],
            braces: 0,
            brackets: 0,
            body_seps: Vec::new(),
            items: 0,
            after_attribute: false,
        }
    }

    fn run(mut self) -> Result<Resolved, Diagnostic> {
        let b = self.bytes;
        let mut i = 0;
        let mut line_start = 0;
        let mut at_line_start = true; // no token yet since the last line break
        let mut blank_prefix = true; // only spaces and tabs since the line break
        let mut first_tab: Option<usize> = None;
        if src_has_bom(self.src) {
            // The mark is not text: the first line's columns start after it.
            self.blank(0, 3);
            i = 3;
            line_start = 3;
        }
        while i < b.len() {
            let c = b[i];
            match c {
                b'\n' => {
                    i += 1;
                    line_start = i;
                    at_line_start = true;
                    blank_prefix = true;
                    first_tab = None;
                    continue;
                }
                b'\r' if b.get(i + 1) == Some(&b'\n') => {
                    self.blank(i, i + 1);
                    i += 1;
                    continue;
                }
                b' ' => {
                    i += 1;
                    continue;
                }
                b'\t' => {
                    if blank_prefix && first_tab.is_none() {
                        first_tab = Some(i);
                    }
                    self.blank(i, i + 1);
                    i += 1;
                    continue;
                }
                _ if c < 0x20 || c == 0x7f || c >= 0x80 => return Err(bad_char(self.src, i)),
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    let start = i;
                    while i < b.len() && b[i] != b'\n' {
                        if b[i] < 0x20 && b[i] != b'\t' && b[i] != b'\r' {
                            return Err(bad_char(self.src, i));
                        }
                        i += 1;
                    }
                    self.blank(start, i);
                    blank_prefix = false;
                    continue;
                }
                b'{' if b.get(i + 1) == Some(&b'-') => {
                    let start = i;
                    i = self.block_comment(i)?;
                    self.blank(start, i);
                    blank_prefix = false;
                    continue;
                }
                _ => {}
            }
            // `c` starts a token.
            if at_line_start {
                at_line_start = false;
                self.line_start(line_start, i, c, first_tab)?;
            }
            blank_prefix = false;
            match c {
                b'"' => i = string_end(self.src, i)?,
                b'{' => {
                    self.braces += 1;
                    self.check_depth(i)?;
                    i += 1;
                }
                b'}' => {
                    self.braces = self.braces.saturating_sub(1);
                    i += 1;
                }
                b'(' | b'[' => {
                    self.brackets += 1;
                    self.check_depth(i)?;
                    i += 1;
                }
                b')' | b']' => {
                    self.brackets = self.brackets.saturating_sub(1);
                    i += 1;
                }
                _ => i += 1,
            }
        }
        for _ in 1..self.stack.len() {
            self.insert(b.len(), CLOSE);
        }
        self.out.extend_from_slice(&b[self.copied..]);
        let text = String::from_utf8(self.out).expect("blanking replaces whole characters");
        Ok(Resolved {
            body_seps: self.body_seps,
            text,
            inserted: self.inserted,
        })
    }

    /// Handles the first token of a line, at byte `at`.
    fn line_start(
        &mut self,
        line_start: usize,
        at: usize,
        c: u8,
        tab: Option<usize>,
    ) -> Result<(), Diagnostic> {
        if self.brackets > 0 {
            return Ok(());
        }
        if self.braces > 0 {
            if c != b'}' {
                self.mark(line_start, at, &[SEP]);
            }
            return Ok(());
        }
        if c == b'{' {
            return Ok(());
        }
        if let Some(tab) = tab {
            return Err(Diagnostic::new(
                Code::TabIndent,
                "tab character in indentation",
                Span::new(tab, tab + 1),
                "this is a tab",
            )
            .with_help("indent with spaces only: a tab has no agreed width"));
        }
        let col = self.bytes[line_start..at]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        let top = *self.stack.last().unwrap_or(&0);
        if col > top {
            self.stack.push(col);
            self.block_starts.push(at);
            self.check_depth(at)?;
            self.mark(line_start, at, &[OPEN]);
            return Ok(());
        }
        let mut marks = Vec::new();
        let mut closed = None;
        while col < *self.stack.last().unwrap_or(&0) {
            closed = self.stack.pop().zip(self.block_starts.pop());
            marks.push(CLOSE);
        }
        let top = *self.stack.last().unwrap_or(&0);
        if col != top {
            return Err(self.bad_dedent(at, col, closed));
        }
        marks.push(SEP);
        self.mark(line_start, at, &marks);
        match self.stack.len() {
            1 => self.items += 1,
            // Never between an attribute line and its statement.
            2 if !self.after_attribute => self.body_seps.push((self.out.len() - 1, self.items)),
            _ => {}
        }
        self.after_attribute = c == b'@';
        Ok(())
    }

    /// E0003 for a line starting at 0-based column `col` (token at `at`),
    /// after closing the block `closed` (its column and first token): the
    /// help names the column of that block and the one of the block around it.
    fn bad_dedent(&self, at: usize, col: usize, closed: Option<(usize, usize)>) -> Diagnostic {
        let line_of =
            |offset: usize| self.bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        let outer = *self.stack.last().unwrap_or(&0) + 1;
        let d = Diagnostic::new(
            Code::BadDedent,
            format!(
                "this line starts at column {}, which matches no open block",
                col + 1
            ),
            Span::new(at, at + 1),
            "unexpected dedent",
        );
        match closed {
            Some((inner, start)) => d
                .with_label(
                    Span::new(start, start + 1),
                    format!("this block is at column {}", inner + 1),
                )
                .with_help(format!(
                    "indent the line to column {} to stay in the block that starts on line {}, \
                     or to column {outer} to leave it",
                    inner + 1,
                    line_of(start)
                )),
            None => d.with_help(format!("indent the line to column {outer}")),
        }
    }

    /// Puts the virtual characters `marks` just before the token at `at`.
    /// They overwrite the whitespace before it (the line's indentation and the
    /// line break) when there is room, so that offsets stay unchanged;
    /// otherwise they are inserted.
    fn mark(&mut self, line_start: usize, at: usize, marks: &[char]) {
        let room = at - line_start + usize::from(line_start > 0);
        if marks.len() <= room {
            self.out.extend_from_slice(&self.bytes[self.copied..at]);
            self.copied = at;
            let end = self.out.len();
            for (slot, &m) in self.out[end - marks.len()..].iter_mut().zip(marks) {
                *slot = m as u8;
            }
        } else {
            for &m in marks {
                self.insert(at, m);
            }
        }
    }

    fn insert(&mut self, at: usize, c: char) {
        self.out.extend_from_slice(&self.bytes[self.copied..at]);
        self.copied = at;
        self.inserted.push(self.out.len());
        self.out.push(c as u8);
    }

    /// Replaces the bytes `from..to` by spaces in the output (line breaks stay).
    fn blank(&mut self, from: usize, to: usize) {
        self.out.extend_from_slice(&self.bytes[self.copied..from]);
        self.out.extend(
            self.bytes[from..to]
                .iter()
                .map(|&c| if c == b'\n' { c } else { b' ' }),
        );
        self.copied = to;
    }

    fn check_depth(&self, at: usize) -> Result<(), Diagnostic> {
        if self.stack.len() - 1 + self.braces + self.brackets > MAX_NESTING {
            return Err(too_deep(at));
        }
        Ok(())
    }

    /// Skips a (nested) block comment starting at `start`; returns the offset after it.
    fn block_comment(&self, start: usize) -> Result<usize, Diagnostic> {
        let b = self.bytes;
        let mut depth = 0usize;
        let mut i = start;
        while i < b.len() {
            if b[i] == b'{' && b.get(i + 1) == Some(&b'-') {
                depth += 1;
                if depth + self.stack.len() - 1 + self.braces + self.brackets > MAX_NESTING {
                    return Err(too_deep(i));
                }
                i += 2;
            } else if b[i] == b'-' && b.get(i + 1) == Some(&b'}') {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Ok(i);
                }
            } else {
                if b[i] < 0x20 && !matches!(b[i], b'\t' | b'\n' | b'\r') {
                    return Err(bad_char(self.src, i));
                }
                i += 1;
            }
        }
        Err(Diagnostic::new(
            Code::UnterminatedComment,
            "block comment is never closed",
            Span::new(start, start + 2),
            "this `{-` has no matching `-}`",
        )
        .with_help("close the comment with `-}` (block comments nest)"))
    }
}

fn src_has_bom(src: &str) -> bool {
    src.starts_with('\u{FEFF}')
}

/// The offset just after the string literal that starts at `start`.
fn string_end(src: &str, start: usize) -> Result<usize, Diagnostic> {
    let b = src.as_bytes();
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' if matches!(b.get(i + 1), Some(b'"') | Some(b'\\')) => i += 2,
            b'\n' | b'\r' => break,
            c if c < 0x20 && c != b'\t' => return Err(bad_char(src, i)),
            _ => i += 1,
        }
    }
    Err(Diagnostic::new(
        Code::UnterminatedString,
        "string literal is not closed",
        Span::new(start, i),
        "this string has no closing `\"` on its line",
    )
    .with_help("close the string with `\"`; write a quote inside it as `\\\"`"))
}

fn too_deep(at: usize) -> Diagnostic {
    Diagnostic::new(
        Code::TooDeep,
        format!("nesting deeper than {MAX_NESTING} levels"),
        Span::new(at, at + 1),
        "too deep",
    )
    .with_help("split the protocol, or flatten nested blocks; the limit keeps the compiler's stack bounded")
}

fn bad_char(src: &str, at: usize) -> Diagnostic {
    let c = src[at..].chars().next().unwrap_or('\0');
    let what = if c == '\r' {
        "carriage return not followed by a line feed".to_string()
    } else if !c.is_ascii() {
        format!("non-ASCII character `{c}` outside a string or comment")
    } else {
        format!("control character U+{:04X} in the source", c as u32)
    };
    Diagnostic::new(
        Code::BadChar,
        what,
        Span::new(at, at + c.len_utf8()),
        "not allowed here",
    )
    .with_help("a .choreo file is UTF-8 text with LF or CRLF line endings")
}

/// The diagnostic for input that is not UTF-8, at the first bad byte.
pub fn not_utf8(valid_up_to: usize) -> Diagnostic {
    Diagnostic::new(
        Code::BadChar,
        "the file is not valid UTF-8 text",
        Span::new(valid_up_to, valid_up_to + 1),
        "invalid UTF-8 starts here",
    )
    .with_help("a .choreo file is UTF-8 text; is this a binary file?")
}
