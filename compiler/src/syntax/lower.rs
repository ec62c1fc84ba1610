//! Runs the pest grammar on layout-resolved text and lowers its pairs into
//! the syntax tree, mapping every span back to the original source.

use super::ast::*;
use super::layout::Resolved;
use crate::diag::{Code, Diagnostic, Span};
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/choreo.pest"]
pub(super) struct ChoreoParser;

pub(super) fn parse_resolved(resolved: &Resolved) -> Result<File, Vec<Diagnostic>> {
    if let Some(file) = super::split::parse_piecewise(resolved) {
        return Ok(file);
    }
    parse_sequential(resolved)
}

/// Parses the whole resolved text on this thread.
pub(super) fn parse_sequential(resolved: &Resolved) -> Result<File, Vec<Diagnostic>> {
    let mut pairs = match ChoreoParser::parse(Rule::file, &resolved.text) {
        Ok(pairs) => pairs,
        Err(_) => {
            // Parse again, this time collecting which tokens were expected
            // (pest keeps that switch process-wide; it only costs speed).
            pest::set_error_detail(true);
            let err = ChoreoParser::parse(Rule::file, &resolved.text)
                .expect_err("the same input fails the same way");
            return Err(vec![super::errors::syntax_error(err, resolved)]);
        }
    };
    let file = pairs.next().expect("the file rule always yields one pair");
    let mut lower = Lower::new(resolved, 0);
    let file = lower.file(file);
    if lower.diags.is_empty() {
        Ok(file)
    } else {
        Err(lower.diags)
    }
}

/// Is this pair a punctuation or keyword token (kept for error messages only)?
fn is_token(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        open | close
            | open_brace
            | close_brace
            | EOI
            | kw_module
            | kw_exposing
            | kw_protocol
            | kw_roles
            | kw_case
            | kw_choose
            | kw_of
            | kw_choice
            | kw_at
            | kw_loop
            | kw_decide
            | kw_by
            | kw_repeat
            | kw_forever
            | kw_for
            | kw_in
    )
}

pub(super) fn inner(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_token(p.as_rule()))
}

/// Lowers pairs parsed from `resolved.text[base..]`.
pub(super) struct Lower<'r> {
    resolved: &'r Resolved,
    base: usize,
    pub(super) diags: Vec<Diagnostic>,
}

impl<'r> Lower<'r> {
    pub(super) fn new(resolved: &'r Resolved, base: usize) -> Self {
        Lower {
            resolved,
            base,
            diags: Vec::new(),
        }
    }

    pub(super) fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        self.resolved
            .span(self.base + s.start(), self.base + s.end())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    pub(super) fn file(&mut self, pair: Pair<'_, Rule>) -> File {
        let mut module = None;
        let mut protocols = Vec::new();
        for p in inner(pair) {
            match p.as_rule() {
                Rule::module_decl => module = Some(self.module(p)),
                Rule::protocol => protocols.push(self.protocol(p)),
                r => unreachable!("file: {r:?}"),
            }
        }
        File { module, protocols }
    }

    fn module(&mut self, pair: Pair<'_, Rule>) -> ModuleDecl {
        let span = self.span(&pair);
        let has_exposing = pair
            .clone()
            .into_inner()
            .any(|p| p.as_rule() == Rule::kw_exposing);
        let mut it = inner(pair);
        let name = self.ident(it.next().expect("module name"));
        let rest: Vec<Ident> = it.map(|p| self.ident(p)).collect();
        let exposing = has_exposing.then_some(rest);
        ModuleDecl {
            name,
            exposing,
            span,
        }
    }

    pub(super) fn protocol(&mut self, pair: Pair<'_, Rule>) -> Protocol {
        let span = self.span(&pair);
        let mut it = inner(pair);
        let name = self.ident(it.next().expect("protocol name"));
        let roles = self.roles(it.next().expect("roles"));
        let mut body: Vec<Stmt> = it.map(|p| self.stmt(p)).collect();
        body.shrink_to_fit();
        Protocol {
            name,
            roles,
            body,
            span,
        }
    }

    fn roles(&mut self, pair: Pair<'_, Rule>) -> Vec<RoleDecl> {
        inner(pair)
            .map(|decl| {
                let span = self.span(&decl);
                let mut it = inner(decl);
                let name = self.ident(it.next().expect("role name"));
                let family = it.next().map(|size| {
                    let size = inner(size).next().expect("family size");
                    match size.as_rule() {
                        Rule::star => FamilySize::Dynamic(self.span(&size)),
                        Rule::int => FamilySize::Fixed(self.uint(&size), self.span(&size)),
                        _ => FamilySize::Symbolic(self.ident(size)),
                    }
                });
                RoleDecl { name, family, span }
            })
            .collect()
    }

    fn block(&mut self, pair: Pair<'_, Rule>) -> Vec<Stmt> {
        inner(pair).map(|p| self.stmt(p)).collect()
    }

    pub(super) fn stmt(&mut self, pair: Pair<'_, Rule>) -> Stmt {
        let mut attrs = Vec::new();
        for p in inner(pair) {
            // Without its payload, a message's pair ends with the blanks the
            // grammar skipped looking for one: they are not the statement's.
            let s = p.as_span();
            let end = s.start() + p.as_str().trim_end().len();
            let whole = self.resolved.span(self.base + s.start(), self.base + end);
            let kind = match p.as_rule() {
                Rule::attribute => {
                    attrs.push(self.attribute(p));
                    continue;
                }
                Rule::message => StmtKind::Message(Box::new(self.message(p))),
                Rule::case_stmt => StmtKind::Case(self.case(p)),
                Rule::loop_stmt => StmtKind::Loop(self.loop_(p)),
                Rule::for_stmt => StmtKind::For(self.for_(p)),
                r => unreachable!("stmt: {r:?}"),
            };
            let span = match &kind {
                StmtKind::Message(_) => whole,
                StmtKind::Case(c) => c.header,
                StmtKind::Loop(l) => l.header,
                StmtKind::For(f) => f.header,
            };
            return Stmt { attrs, kind, span };
        }
        unreachable!("a statement always has a kind")
    }

    fn attribute(&mut self, pair: Pair<'_, Rule>) -> Attribute {
        let span = self.span(&pair);
        let mut it = inner(pair);
        let at = it.next().expect("attribute name");
        let at_span = self.span(&at);
        let name = Ident {
            name: at.as_str()[1..].to_string(),
            span: Span::new(at_span.start + 1, at_span.end),
        };
        let args = it
            .map(|p| match p.as_rule() {
                Rule::ident => Literal::Str(p.as_str().to_string(), self.span(&p)),
                _ => self.literal(p),
            })
            .collect();
        Attribute { name, args, span }
    }

    fn message(&mut self, pair: Pair<'_, Rule>) -> Message {
        let mut it = inner(pair);
        let from = self.role_ref(it.next().expect("sender"));
        let to = self.role_ref(it.next().expect("receiver"));
        let label = self.ident(it.next().expect("label"));
        let payload = it.next().map(|p| self.payload(p));
        Message {
            from,
            to,
            label,
            payload,
        }
    }

    fn role_ref(&mut self, pair: Pair<'_, Rule>) -> RoleRef {
        let span = self.span(&pair);
        let mut role = None;
        let mut index = None;
        let mut annotations = Vec::new();
        for p in inner(pair) {
            match p.as_rule() {
                Rule::ident => role = Some(self.ident(p)),
                Rule::index => index = Some(Box::new(self.index(p))),
                Rule::annotations => {
                    for a in inner(p) {
                        let mut it = inner(a);
                        let key = self.ident(it.next().expect("key"));
                        let value = self.literal(it.next().expect("value"));
                        annotations.push(Annotation { key, value });
                    }
                }
                r => unreachable!("role_ref: {r:?}"),
            }
        }
        // Trees of long files are mostly these small lists: keep them exact.
        annotations.shrink_to_fit();
        RoleRef {
            role: role.expect("role name"),
            index,
            annotations,
            span,
        }
    }

    fn index(&mut self, pair: Pair<'_, Rule>) -> Index {
        let span = self.span(&pair);
        let p = inner(pair).next().expect("index");
        match p.as_rule() {
            Rule::star => Index::All(span),
            Rule::int => Index::Const(self.uint(&p), span),
            Rule::range => {
                let mut it = inner(p);
                let a = self.uint(&it.next().expect("start"));
                let b = self.uint(&it.next().expect("end"));
                Index::Range(a, b, span)
            }
            _ => Index::Var(self.ident(p)),
        }
    }

    fn payload(&mut self, pair: Pair<'_, Rule>) -> Payload {
        match inner(pair).next() {
            None => Payload::Fields(Vec::new()),
            Some(p) if p.as_rule() == Rule::fields => {
                let mut fields: Vec<Field> = inner(p)
                    .map(|f| {
                        let mut it = inner(f);
                        let name = self.ident(it.next().expect("field name"));
                        let ty = self.type_text(it.next().expect("field type"));
                        Field { name, ty }
                    })
                    .collect();
                fields.shrink_to_fit();
                Payload::Fields(fields)
            }
            Some(p) => Payload::Type(self.type_text(p)),
        }
    }

    fn type_text(&self, pair: Pair<'_, Rule>) -> TypeText {
        let span = self.span(&pair);
        TypeText {
            text: normalise_type(pair.as_str()),
            span,
        }
    }

    fn case(&mut self, pair: Pair<'_, Rule>) -> Case {
        let start = self.span(&pair).start;
        let mut chooser = None;
        let mut branches = Vec::new();
        let mut header = Span::new(start, start);
        for p in inner(pair) {
            match p.as_rule() {
                Rule::role_ref => {
                    let r = self.role_ref(p);
                    header = Span::new(start, r.span.end);
                    chooser = Some(r);
                }
                Rule::branch_block => {
                    for b in inner(p) {
                        let mut it = inner(b);
                        let label = self.ident(it.next().expect("branch label"));
                        let body = it.next().expect("branch body");
                        let body = match body.as_rule() {
                            Rule::block => self.block(body),
                            _ => vec![self.stmt(body)],
                        };
                        branches.push(Branch { label, body });
                    }
                }
                r => unreachable!("case: {r:?}"),
            }
        }
        Case {
            chooser: chooser.expect("chooser"),
            branches,
            header,
        }
    }

    fn loop_(&mut self, pair: Pair<'_, Rule>) -> Loop {
        let start = self.span(&pair).start;
        let mut it = inner(pair);
        let kind_pair = it.next().expect("loop kind");
        let header = Span::new(start, self.span(&kind_pair).end);
        let kind = match kind_pair.as_rule() {
            Rule::decide => {
                LoopKind::Decide(self.role_ref(inner(kind_pair).next().expect("decider")))
            }
            Rule::repeat => {
                let n = inner(kind_pair).next().expect("count");
                if n.as_rule() == Rule::int {
                    LoopKind::Repeat(Count::Const(self.uint(&n), self.span(&n)))
                } else {
                    LoopKind::Repeat(Count::Param(self.ident(n)))
                }
            }
            _ => LoopKind::Forever,
        };
        let body = self.block(it.next().expect("loop body"));
        Loop { kind, body, header }
    }

    fn for_(&mut self, pair: Pair<'_, Rule>) -> For {
        let start = self.span(&pair).start;
        let mut it = inner(pair);
        let var = self.ident(it.next().expect("variable"));
        let family = self.ident(it.next().expect("family"));
        let header = Span::new(start, family.span.end);
        let body = self.block(it.next().expect("for body"));
        For {
            var,
            family,
            body,
            header,
        }
    }

    fn literal(&mut self, pair: Pair<'_, Rule>) -> Literal {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::string => {
                let raw = inner(pair).next().map(|p| p.as_str()).unwrap_or("");
                Literal::Str(unescape(raw), span)
            }
            Rule::boolean => Literal::Bool(pair.as_str() == "true", span),
            Rule::integer => Literal::Int(self.int(&pair), span),
            Rule::list => Literal::List(inner(pair).map(|p| self.literal(p)).collect(), span),
            r => unreachable!("literal: {r:?}"),
        }
    }

    fn int(&mut self, pair: &Pair<'_, Rule>) -> i64 {
        pair.as_str().parse().unwrap_or_else(|_| {
            self.too_large(pair);
            0
        })
    }

    fn uint(&mut self, pair: &Pair<'_, Rule>) -> u64 {
        pair.as_str().parse().unwrap_or_else(|_| {
            self.too_large(pair);
            0
        })
    }

    fn too_large(&mut self, pair: &Pair<'_, Rule>) {
        self.diags.push(Diagnostic::new(
            Code::NumberTooLarge,
            format!("integer `{}` is too large", pair.as_str()),
            self.span(pair),
            "does not fit in 64 bits",
        ));
    }
}

/// Resolves the two escapes of string literals, `\\"` and `\\\\`.
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        });
    }
    out
}

/// A Rust type with all whitespace and comments removed except where needed
/// between words (`&'a mut T`).
fn normalise_type(text: &str) -> String {
    if !text
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b < 0x20 || b == b',' || b == b';')
    {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '\u{02}' | '\u{03}' | '\u{1E}') {
            pending_space = true;
        } else {
            let word = c.is_alphanumeric() || c == '_' || c == '\'';
            if pending_space && word && out.ends_with(|p: char| p.is_alphanumeric() || p == '_') {
                out.push(' ');
            }
            if c == ',' || c == ';' {
                out.push(c);
                out.push(' ');
                pending_space = false;
                continue;
            }
            pending_space = false;
            out.push(c);
        }
    }
    out.trim_end().to_string()
}
