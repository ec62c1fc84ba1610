//! Resolves the statements of one protocol into the model, checking roles,
//! family indexes, self-sends, `case` labels, loop headers and annotations.

use super::annotations::{render, typed};
use super::model::*;
use crate::diag::suggest::{closest, did_you_mean};
use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::ast;
use std::borrow::Borrow;
use std::collections::HashMap;

/// Walks one protocol body.
pub(super) struct Resolver<'a> {
    roles: &'a [Role],
    names: &'a HashMap<String, RoleId>,
    diags: &'a mut Vec<Diagnostic>,
    /// Bound index variables, innermost last: (name, family; `None` when
    /// the `for` names no family, already reported).
    vars: Vec<(String, Option<RoleId>)>,
    used: Vec<bool>,
    messages: usize,
    loops: usize,
    choices: usize,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(
        roles: &'a [Role],
        names: &'a HashMap<String, RoleId>,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Resolver {
            roles,
            names,
            diags,
            vars: Vec::new(),
            used: vec![false; roles.len()],
            messages: 0,
            loops: 0,
            choices: 0,
        }
    }

    /// Which roles were used, and the message, loop and choice counts.
    pub(super) fn finish(self) -> (Vec<bool>, usize, usize, usize) {
        (self.used, self.messages, self.loops, self.choices)
    }

    pub(super) fn block(&mut self, stmts: &[ast::Stmt]) -> Vec<Stmt> {
        self.block_of(stmts.len(), stmts.iter())
    }

    /// [`Resolver::block`] for statements it may drop one by one as it
    /// goes, so a long body's tree is freed while its model is built.
    pub(super) fn block_owned(&mut self, stmts: Vec<ast::Stmt>) -> Vec<Stmt> {
        self.block_of(stmts.len(), stmts.into_iter())
    }

    fn block_of<S: Borrow<ast::Stmt>>(
        &mut self,
        len: usize,
        stmts: impl Iterator<Item = S>,
    ) -> Vec<Stmt> {
        let mut out = Vec::with_capacity(len);
        let mut stmts = stmts.peekable();
        while let Some(item) = stmts.next() {
            let s = item.borrow();
            if let Some(s) = self.stmt(s) {
                out.push(s);
            }
            if matches!(&s.kind, ast::StmtKind::Loop(l) if l.kind == ast::LoopKind::Forever) {
                if let Some(next) = stmts.peek() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::Unreachable,
                            "this statement never runs",
                            next.borrow().span,
                            "follows a `loop forever`",
                        )
                        .with_label(s.span, "this loop never ends"),
                    );
                }
            }
        }
        out
    }

    fn stmt(&mut self, s: &ast::Stmt) -> Option<Stmt> {
        let parallel = self.attributes(s);
        let attrs: Vec<Attribute> = s
            .attrs
            .iter()
            .map(|a| Attribute {
                name: a.name.name.clone(),
                args: a.args.iter().map(render).collect(),
            })
            .collect();
        match &s.kind {
            ast::StmtKind::Message(m) => self.message(m, s, parallel, attrs).map(Stmt::Message),
            ast::StmtKind::Case(c) => self
                .case(c, s.span)
                .map(|c| Stmt::Choice(Choice { attrs, ..c })),
            ast::StmtKind::Loop(l) => self
                .loop_(l, s.span)
                .map(|l| Stmt::Loop(Loop { attrs, ..l })),
            ast::StmtKind::For(f) => self
                .for_(f, s.span, parallel)
                .map(|f| Stmt::ForEach(ForEach { attrs, ..f })),
        }
    }

    /// Checks the attributes of a statement; returns whether `@parallel` is set.
    fn attributes(&mut self, s: &ast::Stmt) -> bool {
        let mut parallel = false;
        for a in &s.attrs {
            if a.name.name != "parallel" {
                self.diags.push(
                    Diagnostic::new(
                        Code::UnknownAttribute,
                        format!("unknown attribute `@{}`", a.name.name),
                        a.span,
                        "kept and passed to the generated code",
                    )
                    .with_help(
                        if closest(&a.name.name, ["parallel"]).is_some() {
                            "did you mean `@parallel`?"
                        } else {
                            "the compiler knows `@parallel`"
                        },
                    ),
                );
                continue;
            }
            let fans_out = match &s.kind {
                ast::StmtKind::For(_) => true,
                ast::StmtKind::Message(m) => [&m.from, &m.to].iter().any(|r| {
                    matches!(
                        r.index.as_deref(),
                        Some(ast::Index::All(_)) | Some(ast::Index::Range(..))
                    )
                }),
                _ => false,
            };
            if fans_out {
                parallel = true;
            } else {
                self.diags.push(
                    Diagnostic::new(
                        Code::UselessAttribute,
                        "`@parallel` has no effect here",
                        a.span,
                        "nothing to run concurrently",
                    )
                    .with_help("`@parallel` applies to a `for` or to a message to or from several members (`F[*]`, `F[a..b]`)"),
                );
            }
        }
        parallel
    }

    fn message(
        &mut self,
        m: &ast::Message,
        s: &ast::Stmt,
        parallel: bool,
        attrs: Vec<Attribute>,
    ) -> Option<Message> {
        let from = self.participant(&m.from);
        let to = self.participant(&m.to);
        let typed = |list: &[ast::Annotation], diags: &mut Vec<Diagnostic>| {
            (!list.is_empty()).then(|| Box::new(typed(list, diags)))
        };
        let from_annotations = typed(&m.from.annotations, self.diags);
        let to_annotations = typed(&m.to.annotations, self.diags);
        let (from, to) = (from?, to?);
        if from.role == to.role && !disjoint(&from.sel, &to.sel) {
            let role = &self.roles[from.role].name;
            let (what, help) = if from.sel == Sel::Single {
                (
                    format!("`{role}` sends to itself"),
                    "a message needs two different roles".to_string(),
                )
            } else {
                (
                    format!("a member of `{role}` may send to itself here"),
                    format!(
                        "name disjoint members on the two sides, such as `{role}[0] -> {role}[1]`"
                    ),
                )
            };
            self.diags.push(
                Diagnostic::new(
                    Code::SelfSend,
                    what,
                    m.to.span,
                    "the receiver is the sender",
                )
                .with_label(m.from.span, "sender")
                .with_help(help),
            );
            return None;
        }
        let id = self.messages;
        self.messages += 1;
        let payload = match &m.payload {
            None => Payload::Unit,
            Some(ast::Payload::Type(t)) => Payload::Type(t.text.clone()),
            Some(ast::Payload::Fields(f)) if f.is_empty() => Payload::Unit,
            Some(ast::Payload::Fields(f)) => Payload::Fields(
                f.iter()
                    .map(|f| (f.name.name.clone(), f.ty.text.clone()))
                    .collect(),
            ),
        };
        Some(Message {
            id,
            from,
            to,
            label: m.label.name.clone(),
            payload,
            from_annotations,
            to_annotations,
            attrs,
            parallel,
            span: s.span,
        })
    }

    /// Resolves a role reference, checking rules 1 and 3.
    fn participant(&mut self, r: &ast::RoleRef) -> Option<Participant> {
        let Some(&role) = self.names.get(&r.role.name) else {
            self.diags.push(self.undeclared(&r.role, false));
            return None;
        };
        self.used[role] = true;
        let name = &self.roles[role].name;
        let size = self.roles[role].family.clone();
        let sel = match (&size, r.index.as_deref()) {
            (None, None) => Sel::Single,
            (None, Some(idx)) => {
                return self.fail(
                    Diagnostic::new(
                        Code::IndexOnSingle,
                        format!("`{name}` is a single role, not a family"),
                        idx.span(),
                        "index on a single role",
                    )
                    .with_help(match self.similar_family(name) {
                        Some(hint) => format!("{hint} (`{name}` takes no index)"),
                        None => format!("remove the index, or declare a family: `{name}[N]`"),
                    }),
                )
            }
            (Some(_), None) => {
                return self.fail(
                    Diagnostic::new(
                        Code::MissingIndex,
                        format!("family `{name}` is used without an index"),
                        r.role.span,
                        "which members?",
                    )
                    .with_help(format!(
                        "write `{name}[*]` for every member, `{name}[0]` for one, or `{name}[i]` inside `for i in {name}`"
                    )),
                )
            }
            (Some(_), Some(ast::Index::All(_))) => Sel::All,
            (Some(size), Some(ast::Index::Const(k, span))) => {
                self.in_bounds(role, size, *k + 1, *span)?;
                Sel::Member(*k)
            }
            (Some(size), Some(ast::Index::Range(a, b, span))) => {
                if a >= b {
                    return self.fail(
                        Diagnostic::new(
                            Code::EmptyRange,
                            format!("the range `{a}..{b}` selects no member"),
                            *span,
                            "empty range",
                        )
                        .with_help("a range `a..b` selects members a to b - 1; b must be larger than a"),
                    );
                }
                self.in_bounds(role, size, *b, *span)?;
                Sel::Range(*a, *b)
            }
            (Some(_), Some(ast::Index::Var(v))) => match self.vars.iter().rev().find(|(n, _)| *n == v.name) {
                None => {
                    return self.fail(
                        Diagnostic::new(
                            Code::UnboundIndex,
                            format!("index variable `{}` is not bound", v.name),
                            v.span,
                            "no enclosing `for` binds it",
                        )
                        .with_help(
                            match did_you_mean(&v.name, self.vars.iter().map(|(n, _)| n.as_str())) {
                                Some(hint) => hint,
                                None => format!("bind it with `for {} in {name}`, or use `[*]` or a constant", v.name),
                            },
                        ),
                    )
                }
                // The `for` itself was rejected; that is reported already.
                Some((_, None)) => return None,
                Some((_, Some(fam))) if *fam != role => {
                    let other = &self.roles[*fam].name;
                    return self.fail(Diagnostic::new(
                        Code::BadFor,
                        format!("`{}` ranges over `{other}`, not `{name}`", v.name),
                        v.span,
                        format!("a member of `{other}`"),
                    ));
                }
                Some(_) => Sel::Var(v.name.clone()),
            },
        };
        Some(Participant { role, sel })
    }

    /// Checks a constant index (or range end) against a fixed size, and that
    /// the family is not being iterated over.
    fn in_bounds(&mut self, role: RoleId, size: &FamilySize, end: u64, span: Span) -> Option<()> {
        let name = &self.roles[role].name;
        if let FamilySize::Fixed(n) = size {
            if end > *n {
                return self.fail(Diagnostic::new(
                    Code::IndexOutOfRange,
                    format!(
                        "family `{name}` has {n} members (indexes 0 to {})",
                        n.saturating_sub(1) as i64
                    ),
                    span,
                    "outside the family",
                ));
            }
        }
        if let Some((var, _)) = self.vars.iter().find(|(_, f)| *f == Some(role)) {
            return self.fail(
                Diagnostic::new(
                    Code::MemberInOwnFor,
                    format!("a fixed member of `{name}` is named inside `for {var} in {name}`"),
                    span,
                    "inside a round of every member",
                )
                .with_help(format!(
                    "inside the `for`, each member sees only its own round; address members as `{name}[{var}]`"
                )),
            );
        }
        Some(())
    }

    fn fail<T>(&mut self, d: Diagnostic) -> Option<T> {
        self.diags.push(d);
        None
    }

    /// E0101 for `name`, suggesting the closest declared role (only families
    /// when `family` is set, as after `for i in`).
    fn undeclared(&self, name: &ast::Ident, family: bool) -> Diagnostic {
        let d = Diagnostic::new(
            Code::UndeclaredRole,
            format!("role `{}` is not declared", name.name),
            name.span,
            "not in `roles`",
        );
        let candidates = self
            .roles
            .iter()
            .filter(|r| !family || r.family.is_some())
            .map(|r| r.name.as_str());
        match did_you_mean(&name.name, candidates) {
            Some(hint) => d.with_help(hint),
            None => d.with_help(format!(
                "declare it on the protocol's `roles` line: `roles ..., {}`",
                name.name
            )),
        }
    }

    /// `did you mean `F`?` for a family whose name is close to `name`.
    fn similar_family(&self, name: &str) -> Option<String> {
        let families = self
            .roles
            .iter()
            .filter(|r| r.family.is_some())
            .map(|r| r.name.as_str());
        closest(name, families).map(|f| format!("did you mean the family `{f}`?"))
    }

    fn case(&mut self, c: &ast::Case, span: Span) -> Option<Choice> {
        let chooser = self.participant(&c.chooser);
        if c.branches.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::NoBranches,
                    "this `case` has no branch",
                    span,
                    "no branches",
                )
                .with_help("add a branch: `Label ->` followed by an indented block (or `{}`)"),
            );
        }
        let mut branches = Vec::with_capacity(c.branches.len());
        for (i, b) in c.branches.iter().enumerate() {
            if let Some(first) = c.branches[..i]
                .iter()
                .find(|o| o.label.name == b.label.name)
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateBranch,
                        format!(
                            "branch label `{}` is used twice in this `case`",
                            b.label.name
                        ),
                        b.label.span,
                        "used again here",
                    )
                    .with_label(first.label.span, "first used here"),
                );
            }
            let body = self.block(&b.body);
            branches.push(Branch {
                label: b.label.name.clone(),
                span: b.label.span,
                body,
            });
        }
        let chooser = chooser?;
        if let Sel::Range(..) = chooser.sel {
            return self.fail(
                Diagnostic::new(
                    Code::BadChooser,
                    "a range of members cannot choose",
                    c.chooser.span,
                    "a range",
                )
                .with_help("let one member (`F[0]`) or every member on its own (`F[*]`) choose"),
            );
        }
        let id = self.choices;
        self.choices += 1;
        let choice = Choice {
            id,
            chooser,
            branches,
            span,
            attrs: Vec::new(),
        };
        super::rules::check_choice(self.roles, &choice, self.diags);
        Some(choice)
    }

    fn loop_(&mut self, l: &ast::Loop, span: Span) -> Option<Loop> {
        let kind = match &l.kind {
            ast::LoopKind::Decide(r) => {
                let p = self.participant(r);
                if let Some(p) = &p {
                    if !matches!(p.sel, Sel::Single | Sel::Member(_)) {
                        self.diags.push(
                            Diagnostic::new(
                                Code::BadDecider,
                                format!("`{}` is not a single role or one member", r.role.name),
                                r.span,
                                "cannot decide a loop",
                            )
                            .with_help(format!(
                                "name one role, or one member such as `{}[0]`",
                                r.role.name
                            )),
                        );
                    }
                }
                p.map(LoopKind::Decide)
            }
            ast::LoopKind::Repeat(ast::Count::Const(n, _)) => {
                Some(LoopKind::Repeat(Count::Const(*n)))
            }
            ast::LoopKind::Repeat(ast::Count::Param(p)) => {
                Some(LoopKind::Repeat(Count::Param(p.name.clone())))
            }
            ast::LoopKind::Forever => Some(LoopKind::Forever),
        };
        let id = self.loops;
        self.loops += 1;
        let body = self.block(&l.body);
        let lp = Loop {
            id,
            kind: kind?,
            body,
            span,
            attrs: Vec::new(),
        };
        if let (LoopKind::Decide(_), ast::LoopKind::Decide(r)) = (&lp.kind, &l.kind) {
            super::rules::check_decide(self.roles, &lp, r.span, self.diags);
        }
        Some(lp)
    }

    fn for_(&mut self, f: &ast::For, span: Span, parallel: bool) -> Option<ForEach> {
        let family = match self.names.get(&f.family.name) {
            None => {
                let d = self.undeclared(&f.family, true);
                self.diags.push(d);
                None
            }
            Some(&role) if self.roles[role].family.is_none() => self.fail(
                Diagnostic::new(
                    Code::BadFor,
                    format!(
                        "`{}` is a single role; `for` iterates over a family",
                        f.family.name
                    ),
                    f.family.span,
                    "not a family",
                )
                .with_help(self.similar_family(&f.family.name).unwrap_or_else(
                    || "declare the role as a family (`Name[N]`) to run a round per member".into(),
                )),
            ),
            Some(&role) => {
                if let Some((var, _)) = self.vars.iter().find(|(_, fam)| *fam == Some(role)) {
                    self.fail(Diagnostic::new(
                        Code::BadFor,
                        format!("already iterating over `{}` with `{var}`", f.family.name),
                        f.family.span,
                        "nested `for` over the same family",
                    ))
                } else {
                    self.used[role] = true;
                    Some(role)
                }
            }
        };
        if self.vars.iter().any(|(n, _)| *n == f.var.name) {
            self.diags.push(Diagnostic::new(
                Code::BadFor,
                format!(
                    "index variable `{}` is already bound by an enclosing `for`",
                    f.var.name
                ),
                f.var.span,
                "choose another name",
            ));
        }
        self.vars.push((f.var.name.clone(), family));
        let body = self.block(&f.body);
        self.vars.pop();
        Some(ForEach {
            var: f.var.name.clone(),
            family: family?,
            parallel,
            body,
            span,
            attrs: Vec::new(),
        })
    }
}

/// Whether two selections of one role can never name the same member.
fn disjoint(a: &Sel, b: &Sel) -> bool {
    let range = |s: &Sel| match s {
        Sel::Member(k) => Some((*k, k + 1)),
        Sel::Range(x, y) => Some((*x, *y)),
        _ => None,
    };
    match (range(a), range(b)) {
        (Some((a0, a1)), Some((b0, b1))) => a1 <= b0 || b1 <= a0,
        _ => false,
    }
}
