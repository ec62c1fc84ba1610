//! Prints a syntax tree in the canonical layout, as lines of tokens. Every
//! token remembers where it (or what it stands for) is written in the
//! source, so that comments can be woven back in between the same tokens.
//!
//! The layout: two spaces per level; one statement, attribute, branch label
//! or block header per line; indented blocks everywhere (`{}` only for an
//! empty block); one space around `->`, `=` and `:` of a message and after
//! commas; names, indexes, annotations and payloads exactly in source order.

use super::comments::{skip_blank, Comment};
use crate::syntax::ast::*;

/// One printed token.
#[derive(Clone, Debug)]
pub struct Tok {
    /// Its text.
    pub text: String,
    /// Where it starts in the source.
    pub src: usize,
    /// Where it ends in the source.
    pub src_end: usize,
    /// Whether a space separates it from the token before it on its line.
    pub space: bool,
}

/// One printed line.
#[derive(Clone, Debug)]
pub struct Line {
    /// Indentation level (two spaces each).
    pub level: usize,
    /// The tokens, in source order.
    pub toks: Vec<Tok>,
    /// Whether the next line is one level deeper (a block opens).
    pub opens: bool,
    /// Whether this is a `protocol` header at the top level.
    pub top: bool,
}

/// Prints `file`, whose source is `src` (with its comments `comments`).
pub fn print(file: &File, src: &str, comments: &[Comment]) -> Vec<Line> {
    let mut p = Printer {
        src,
        comments,
        pos: 0,
        lines: Vec::new(),
    };
    if let Some(m) = &file.module {
        p.module(m);
    }
    for proto in &file.protocols {
        p.protocol(proto);
    }
    p.lines
}

struct Printer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    /// The source offset just after the last token printed.
    pos: usize,
    lines: Vec<Line>,
}

impl Printer<'_> {
    fn line(&mut self, level: usize) {
        self.lines.push(Line {
            level,
            toks: Vec::new(),
            opens: false,
            top: false,
        });
    }

    fn opens(&mut self) {
        if let Some(l) = self.lines.last_mut() {
            l.opens = true;
        }
    }

    fn push(&mut self, text: String, src: usize, src_end: usize, space: bool) {
        let line = self.lines.last_mut().expect("a line is open");
        let space = space && !line.toks.is_empty();
        line.toks.push(Tok {
            text,
            src,
            src_end,
            space,
        });
        self.pos = self.pos.max(src_end);
    }

    /// A token that is written in the source at `span`.
    fn at(&mut self, text: impl Into<String>, start: usize, end: usize, space: bool) {
        self.push(text.into(), start, end, space);
    }

    fn ident(&mut self, id: &Ident, space: bool) {
        self.at(id.name.clone(), id.span.start, id.span.end, space);
    }

    /// The source text of a span, as written.
    fn verbatim(&mut self, start: usize, end: usize, space: bool) {
        let text = self.src[start..end].to_string();
        self.at(text, start, end, space);
    }

    /// A keyword or punctuation token: its source offset is found by looking
    /// ahead of the last token, over blanks, comments and the punctuation the
    /// canonical layout drops (`;`, braces, trailing commas, `[]`).
    fn punct(&mut self, text: &str, space: bool) {
        let mut at = skip_blank(self.src, self.comments, self.pos);
        let found = loop {
            let rest = &self.src[at..];
            if rest.starts_with(text) {
                break Some(at);
            }
            match rest.bytes().next() {
                Some(b';' | b'{' | b'}' | b',' | b'[' | b']' | b'(' | b')') => {
                    at = skip_blank(self.src, self.comments, at + 1);
                }
                _ => break None,
            }
        };
        let start = found.unwrap_or(self.pos);
        let end = found.map_or(self.pos, |s| s + text.len());
        self.push(text.to_string(), start, end, space);
    }

    fn module(&mut self, m: &ModuleDecl) {
        self.line(0);
        self.punct("module", false);
        self.ident(&m.name, true);
        if let Some(list) = &m.exposing {
            self.punct("exposing", true);
            self.punct("(", true);
            for (i, name) in list.iter().enumerate() {
                if i > 0 {
                    self.punct(",", false);
                }
                self.ident(name, i > 0);
            }
            self.punct(")", false);
        }
    }

    fn protocol(&mut self, p: &Protocol) {
        self.line(0);
        if let Some(l) = self.lines.last_mut() {
            l.top = true;
        }
        self.punct("protocol", false);
        self.ident(&p.name, true);
        self.punct("=", true);
        self.opens();
        self.line(1);
        self.punct("roles", false);
        for (i, r) in p.roles.iter().enumerate() {
            if i > 0 {
                self.punct(",", false);
            }
            self.ident(&r.name, true);
            if let Some(size) = &r.family {
                self.punct("[", false);
                match size {
                    FamilySize::Symbolic(n) => self.ident(n, false),
                    FamilySize::Fixed(_, s) | FamilySize::Dynamic(s) => {
                        self.verbatim(s.start, s.end, false)
                    }
                }
                self.punct("]", false);
            }
        }
        self.block(&p.body, 1);
    }

    fn block(&mut self, stmts: &[Stmt], level: usize) {
        for s in stmts {
            self.stmt(s, level);
        }
    }

    /// A block after a header line: indented, or `{}` when empty.
    fn body(&mut self, stmts: &[Stmt], level: usize) {
        if stmts.is_empty() {
            self.punct("{", true);
            self.punct("}", false);
        } else {
            self.opens();
            self.block(stmts, level + 1);
        }
    }

    fn stmt(&mut self, s: &Stmt, level: usize) {
        for a in &s.attrs {
            self.line(level);
            self.attribute(a);
        }
        self.line(level);
        match &s.kind {
            StmtKind::Message(m) => self.message(m),
            StmtKind::Case(c) => {
                let choice_at = self.src[c.header.start..].starts_with("choice");
                if choice_at {
                    self.punct("choice", false);
                    self.punct("at", true);
                    self.role_ref(&c.chooser, true);
                } else {
                    self.punct("case", false);
                    self.punct("choose", true);
                    self.role_ref(&c.chooser, true);
                    self.punct("of", true);
                }
                if c.branches.is_empty() {
                    self.punct("{", true);
                    self.punct("}", false);
                } else {
                    self.opens();
                }
                for b in &c.branches {
                    self.line(level + 1);
                    self.ident(&b.label, false);
                    self.punct("->", true);
                    self.body(&b.body, level + 1);
                }
            }
            StmtKind::Loop(l) => {
                self.punct("loop", false);
                match &l.kind {
                    LoopKind::Decide(r) => {
                        self.punct("decide", true);
                        self.punct("by", true);
                        self.role_ref(r, true);
                    }
                    LoopKind::Repeat(n) => {
                        self.punct("repeat", true);
                        match n {
                            Count::Const(_, s) => self.verbatim(s.start, s.end, true),
                            Count::Param(p) => self.ident(p, true),
                        }
                    }
                    LoopKind::Forever => self.punct("forever", true),
                }
                self.body(&l.body, level);
            }
            StmtKind::For(f) => {
                self.punct("for", false);
                self.ident(&f.var, true);
                self.punct("in", true);
                self.ident(&f.family, true);
                self.body(&f.body, level);
            }
        }
    }

    fn attribute(&mut self, a: &Attribute) {
        self.at(
            format!("@{}", a.name.name),
            a.name.span.start.saturating_sub(1),
            a.name.span.end,
            false,
        );
        let has_parens = self.src[a.name.span.end..a.span.end].contains('(');
        if has_parens {
            self.punct("(", false);
            for (i, arg) in a.args.iter().enumerate() {
                if i > 0 {
                    self.punct(",", false);
                }
                self.literal(arg, i > 0);
            }
            self.punct(")", false);
        }
    }

    fn literal(&mut self, l: &Literal, space: bool) {
        match l {
            Literal::List(items, s) => {
                self.at("[", s.start, s.start + 1, space);
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.punct(",", false);
                    }
                    self.literal(item, i > 0);
                }
                self.punct("]", false);
            }
            Literal::Str(_, s) | Literal::Int(_, s) | Literal::Bool(_, s) => {
                self.verbatim(s.start, s.end, space)
            }
        }
    }

    fn message(&mut self, m: &Message) {
        self.role_ref(&m.from, false);
        self.punct("->", true);
        self.role_ref(&m.to, true);
        self.punct(":", true);
        self.ident(&m.label, true);
        if let Some(p) = &m.payload {
            self.punct("(", false);
            match p {
                Payload::Type(t) => self.at(t.text.clone(), t.span.start, t.span.end, false),
                Payload::Fields(fields) => {
                    for (i, f) in fields.iter().enumerate() {
                        if i > 0 {
                            self.punct(",", false);
                        }
                        self.ident(&f.name, i > 0);
                        self.punct(":", false);
                        self.at(f.ty.text.clone(), f.ty.span.start, f.ty.span.end, true);
                    }
                }
            }
            self.punct(")", false);
        }
    }

    fn role_ref(&mut self, r: &RoleRef, space: bool) {
        self.ident(&r.role, space);
        if let Some(index) = r.index.as_deref() {
            match index {
                Index::Var(v) => {
                    self.punct("[", false);
                    self.ident(v, false);
                    self.punct("]", false);
                }
                Index::All(s) => self.at("[*]", s.start, s.end, false),
                Index::Const(k, s) => self.at(format!("[{k}]"), s.start, s.end, false),
                Index::Range(a, b, s) => self.at(format!("[{a}..{b}]"), s.start, s.end, false),
            }
        }
        if !r.annotations.is_empty() {
            self.punct("[", false);
            for (i, a) in r.annotations.iter().enumerate() {
                if i > 0 {
                    self.punct(",", false);
                }
                self.ident(&a.key, i > 0);
                self.punct("=", true);
                self.literal(&a.value, true);
            }
            self.punct("]", false);
        }
    }
}
