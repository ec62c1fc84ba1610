//! Turns pest's parse errors into diagnostics at the true source position.

use super::layout::{Resolved, CLOSE, OPEN, SEP};
use super::lower::Rule;
use crate::diag::{Code, Diagnostic, Span};
use pest::error::{ErrorVariant, InputLocation};

/// The diagnostic for a pest error on the resolved text.
pub(super) fn syntax_error(err: pest::error::Error<Rule>, resolved: &Resolved) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives
            .iter()
            .map(|r| describe(*r))
            .filter(|d| !d.is_empty())
            .map(String::from)
            .collect(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let mut pos = pos;
    if let Some(attempts) = err.parse_attempts() {
        // Tokens (not only rules) were tried further on: report there.
        if attempts.max_position > pos {
            pos = attempts.max_position;
            expected.clear();
        }
        if attempts.max_position == pos {
            for stack in attempts.call_stacks() {
                if let Some(rule) = stack.deepest.get_rule() {
                    expected.push(describe(*rule).to_string());
                }
            }
            // pest's token type is not nameable outside pest; its Display
            // prints a literal as itself and a character range as `a..z`.
            for token in attempts.expected_tokens() {
                let token = token.to_string();
                let builtin =
                    token.len() > 1 && token.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                if builtin || (token.chars().count() == 4 && token.contains("..")) {
                    continue;
                }
                match token.as_str() {
                    " " | "\n" | "" => {}
                    "\u{2}" => expected.push(describe(Rule::open).into()),
                    "\u{3}" => expected.push(describe(Rule::close).into()),
                    "\u{1e}" | ";" => expected.push("a new line or `;`".into()),
                    t => expected.push(format!("`{t}`")),
                }
            }
        }
    }
    expected.retain(|e| !e.is_empty());
    expected.sort_unstable();
    expected.dedup();
    let is_layout = |c: char| matches!(c, OPEN | CLOSE | SEP | ' ' | '\n');
    let text = &resolved.text;
    let found = found_at(text, pos);
    if resolved.virtual_at(pos) == Some(OPEN) {
        if let Some(d) = unfinished_header(&expected, resolved, pos) {
            return d;
        }
        // Point at the token of the deeper line.
        let next = text[pos..]
            .find(|c: char| !is_layout(c))
            .map_or(text.len(), |n| pos + n);
        let start = resolved.to_source(next);
        return Diagnostic::new(
            Code::UnexpectedIndent,
            "unexpected indentation",
            Span::new(start, start + 1),
            "this line is indented deeper than the line before it",
        )
        .with_help(
            "only a block header (`protocol ... =`, `case ... of`, `Label ->`, `loop ...`, `for ... in ...`) \
             opens an indented block; to wrap a long line, break it inside `[...]` or `(...)`",
        );
    }
    // At a virtual character, point just after the last real token instead.
    let pos = if resolved.virtual_at(pos).is_some() {
        text[..pos].trim_end_matches(is_layout).len()
    } else {
        pos
    };
    let start = resolved.to_source(pos);
    let len = match found {
        Found::Token(t) => t.len(),
        _ => 1,
    };
    let message = match expected.as_slice() {
        [] => format!("unexpected {}", found.describe()),
        [one] => format!("expected {one}, found {}", found.describe()),
        [init @ .., last] => format!(
            "expected {} or {last}, found {}",
            init.join(", "),
            found.describe()
        ),
    };
    // Keep the label inside the text (a zero-width label at the end of the file).
    let end = (start + len).min(resolved.to_source(text.len()));
    Diagnostic::new(
        Code::Syntax,
        message,
        Span::new(start.min(end), end),
        "unexpected here",
    )
}

/// A block opens after a line that would open one if it were finished: a
/// `case choose X` without `of`, a `protocol P` without `=`, a branch
/// label without `->`. Points just after the line's last token.
fn unfinished_header(expected: &[String], resolved: &Resolved, pos: usize) -> Option<Diagnostic> {
    let expects = |t: &str| expected.iter().any(|e| e == t);
    let missing = ["`of`", "`=`", "`->`"]
        .into_iter()
        // `->` ends a header only where a branch may start.
        .find(|t| expects(t) && (*t != "`->`" || expects(describe(Rule::branch))))?;
    let token = missing.trim_matches('`');
    let text = &resolved.text;
    let deeper = text[pos..].trim_start_matches(|c: char| matches!(c, OPEN | ' ' | '\n'));
    if deeper.starts_with(token) {
        // The token is there, on a line of its own: a wrapped line (E0008).
        return None;
    }
    let end = text[..pos].trim_end_matches(|c: char| matches!(c, OPEN | CLOSE | SEP | ' ' | '\n'));
    let line_start = end
        .rfind(|c: char| matches!(c, OPEN | CLOSE | SEP | '\n'))
        .map_or(0, |n| n + 1);
    let header = end[line_start..].trim();
    let at = resolved.to_source(end.len());
    Some(
        Diagnostic::new(
            Code::Syntax,
            format!("expected {missing} at the end of this line, found an indented block"),
            Span::new(at, at),
            format!("{missing} is missing here"),
        )
        .with_help(format!(
            "the line opens the indented block below it, so it ends with {missing}: `{header} {token}`"
        )),
    )
}

enum Found<'a> {
    Token(&'a str),
    EndOfFile,
    EndOfBlock,
    NewLine,
}

impl Found<'_> {
    fn describe(&self) -> String {
        match self {
            Found::Token(t) => format!("`{t}`"),
            Found::EndOfFile => "end of file".into(),
            Found::EndOfBlock => "the end of the block".into(),
            Found::NewLine => "a new line".into(),
        }
    }
}

fn found_at(text: &str, pos: usize) -> Found<'_> {
    let rest = &text[pos.min(text.len())..];
    let Some(c) = rest.chars().next() else {
        return Found::EndOfFile;
    };
    match c {
        CLOSE => Found::EndOfBlock,
        SEP => Found::NewLine,
        c if c.is_ascii_alphanumeric() || c == '_' => {
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            Found::Token(&rest[..n])
        }
        '-' if rest.starts_with("->") => Found::Token("->"),
        '\r' | '\n' => Found::NewLine,
        c => Found::Token(&rest[..c.len_utf8()]),
    }
}

fn describe(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        open => "an indented block",
        close => "the end of the block",
        open_brace => "`{`",
        close_brace => "`}`",
        kw_module => "`module`",
        kw_exposing => "`exposing`",
        kw_protocol | protocol => "`protocol`",
        kw_roles | roles_decl => "`roles`",
        kw_case => "`case`",
        kw_choose => "`choose`",
        kw_of => "`of`",
        kw_choice => "`choice`",
        kw_at => "`at`",
        kw_loop => "`loop`",
        kw_decide | decide => "`decide by`",
        kw_by => "`by`",
        kw_repeat | repeat => "`repeat`",
        kw_forever | forever => "`forever`",
        kw_for => "`for`",
        kw_in => "`in`",
        ident | module_name => "a name",
        int => "a non-negative integer",
        integer => "an integer",
        string | string_inner => "a string",
        boolean => "`true` or `false`",
        list => "a list `[...]`",
        star => "`*`",
        range => "a member range `a..b`",
        index => "a member index `[...]`",
        family_size => "a family size `[...]`",
        annotations => "annotations `[key = value, ...]`",
        annotation => "an annotation `key = value`",
        payload => "a payload `(...)`",
        fields | field => "a field `name: Type`",
        rust_type => "a Rust type",
        role_ref | role_decl => "a role",
        stmt | message | case_stmt | loop_stmt | for_stmt | block => "a statement",
        attribute | at_name => "an attribute `@name`",
        branch | branch_block => "a branch `Label -> ...`",
        module_decl => "`module`",
        file | body_run | body_tail | EOI => "end of file",
        WHITESPACE | sep | literal | attr_arg | type_path | path_segment | s => "",
    }
}
