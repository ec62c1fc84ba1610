//! Checked model to local types: projection onto every role and every
//! singled-out family member (language reference, section 7), including
//! merging for roles that do not choose (rule 5) and the control messages of
//! `loop decide by`.

pub mod local;
mod loops;
mod merge;

use crate::check::model::{Protocol, Role, Sel, Stmt};
use crate::check::rules::each_message;
use crate::diag::{Code, Diagnostic};
use local::{Action, MsgRef, Seq};
use std::collections::BTreeSet;
use std::fmt;

pub use loops::{LoopPlan, Recipient};

/// The most members of one family that statements may single out.
pub const MAX_SINGLED_OUT: usize = 256;

/// Whose local type: a single role, one singled-out member, or the other members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A single role.
    Role(usize),
    /// Member `k` of a family, singled out by some statement.
    Member(usize, u64),
    /// Every member of a family that no statement singles out.
    Others(usize),
}

impl Target {
    /// The role (or family) this target belongs to.
    pub fn role(self) -> usize {
        match self {
            Target::Role(r) | Target::Member(r, _) | Target::Others(r) => r,
        }
    }
}

/// One role's (or member's) local type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalType {
    /// Whose it is.
    pub target: Target,
    /// `Role`, `Family[k]` or `Family`.
    pub name: String,
    /// The actions.
    pub body: Seq,
}

/// The projection of one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    /// The protocol name.
    pub protocol: String,
    /// One local type per target, roles in declaration order.
    pub locals: Vec<LocalType>,
    /// The control messages of each `loop decide by`, by loop id.
    pub loops: Vec<Option<LoopPlan>>,
}

impl Projection {
    /// Prints every local type, one `Name: type` line each.
    pub fn display<'a>(&'a self, protocol: &'a Protocol) -> impl fmt::Display + 'a {
        Lines(self, &protocol.roles)
    }
}

struct Lines<'a>(&'a Projection, &'a [Role]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.0.locals {
            writeln!(f, "{}: {}", l.name, local::print(&l.body, self.1))?;
        }
        Ok(())
    }
}

/// Projects a checked protocol onto every role. Errors are rule 5 problems
/// (a role that cannot learn a choice) and too many singled-out members.
pub fn project(protocol: &Protocol) -> Result<Projection, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let targets = targets(protocol, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut p = Projector::new(protocol, &targets);
    let mut locals = Vec::with_capacity(targets.len());
    for &t in &targets {
        let body = p.project(t, &protocol.body);
        locals.push(LocalType {
            target: t,
            name: target_name(protocol, t),
            body,
        });
    }
    if p.diags.is_empty() {
        Ok(Projection {
            protocol: protocol.name.clone(),
            locals,
            loops: p.plans,
        })
    } else {
        Err(p.diags)
    }
}

/// `Role`, `Family[k]` or `Family`.
pub fn target_name(protocol: &Protocol, t: Target) -> String {
    match t {
        Target::Role(r) | Target::Others(r) => protocol.roles[r].name.clone(),
        Target::Member(r, k) => format!("{}[{k}]", protocol.roles[r].name),
    }
}

/// Every target in printing order: roles in declaration order; for a family,
/// its singled-out members in index order, then the other members.
fn targets(protocol: &Protocol, diags: &mut Vec<Diagnostic>) -> Vec<Target> {
    let mut singled: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); protocol.roles.len()];
    let mut note = |role: usize, sel: &Sel, span| {
        let set = &mut singled[role];
        let (a, b) = match sel {
            Sel::Member(k) => (*k, k + 1),
            Sel::Range(a, b) => (*a, *b),
            _ => return,
        };
        for k in a..b.min(a + MAX_SINGLED_OUT as u64 + 1) {
            set.insert(k);
        }
        if set.len() > MAX_SINGLED_OUT {
            diags.push(
                Diagnostic::new(
                    Code::TooManyMembers,
                    format!(
                        "more than {MAX_SINGLED_OUT} members of `{}` are singled out",
                        protocol.roles[role].name
                    ),
                    span,
                    "too many individual members",
                )
                .with_help("address the family as a whole (`F[*]`, or `F[i]` inside `for i in F`)"),
            );
            set.clear();
        }
    };
    each_message(&protocol.body, &mut |m| {
        note(m.from.role, &m.from.sel, m.span);
        note(m.to.role, &m.to.sel, m.span);
    });
    each_chooser(&protocol.body, &mut |p, span| note(p.role, &p.sel, span));
    let mut out = Vec::new();
    for (r, role) in protocol.roles.iter().enumerate() {
        match &role.family {
            None => out.push(Target::Role(r)),
            Some(size) => {
                out.extend(singled[r].iter().map(|&k| Target::Member(r, k)));
                let all_singled = matches!(size, crate::check::model::FamilySize::Fixed(n)
                    if (0..*n).all(|k| singled[r].contains(&k)));
                if !all_singled {
                    out.push(Target::Others(r));
                }
            }
        }
    }
    out
}

fn each_chooser(
    stmts: &[Stmt],
    f: &mut impl FnMut(&crate::check::model::Participant, crate::diag::Span),
) {
    for s in stmts {
        match s {
            Stmt::Message(_) => {}
            Stmt::Choice(c) => {
                f(&c.chooser, c.span);
                c.branches.iter().for_each(|b| each_chooser(&b.body, f));
            }
            Stmt::Loop(l) => {
                if let crate::check::model::LoopKind::Decide(d) = &l.kind {
                    f(d, l.span);
                }
                each_chooser(&l.body, f)
            }
            Stmt::ForEach(e) => each_chooser(&e.body, f),
        }
    }
}

/// Projects statements onto targets; holds the loop plans and diagnostics.
pub(crate) struct Projector<'a> {
    protocol: &'a Protocol,
    targets: &'a [Target],
    /// Index variables bound to the target itself (it is a member of the family).
    self_vars: Vec<String>,
    /// Enclosing `for` loops: (variable, family).
    for_scope: Vec<(String, usize)>,
    plans: Vec<Option<LoopPlan>>,
    planned: Vec<bool>,
    diags: Vec<Diagnostic>,
    reported: BTreeSet<(usize, Target)>,
    /// Every message statement, by id.
    messages: Vec<Option<&'a crate::check::model::Message>>,
    /// Pairs of merged messages already reported as differing (`E0502`).
    alike_reported: BTreeSet<(usize, usize)>,
}

impl<'a> Projector<'a> {
    fn new(protocol: &'a Protocol, targets: &'a [Target]) -> Self {
        let mut messages = vec![None; protocol.messages];
        each_message(&protocol.body, &mut |m| {
            if let Some(slot) = messages.get_mut(m.id) {
                *slot = Some(m);
            }
        });
        Projector {
            messages,
            alike_reported: BTreeSet::new(),
            protocol,
            targets,
            self_vars: Vec::new(),
            for_scope: Vec::new(),
            plans: vec![None; protocol.loops],
            planned: vec![false; protocol.loops],
            diags: Vec::new(),
            reported: BTreeSet::new(),
        }
    }

    /// Whether participant `p` includes target `t` (in the current scope).
    fn includes(&self, p: &crate::check::model::Participant, t: Target) -> bool {
        if p.role != t.role() {
            return false;
        }
        match (t, &p.sel) {
            (Target::Role(_), Sel::Single) => true,
            (Target::Role(_), _) => false,
            (_, Sel::All) => true,
            (_, Sel::Var(v)) => self.self_vars.iter().any(|s| s == v),
            (Target::Member(_, k), Sel::Member(j)) => *j == k,
            (Target::Member(_, k), Sel::Range(a, b)) => *a <= k && k < *b,
            _ => false,
        }
    }

    /// The projection of `stmts` onto `t`.
    pub(crate) fn project(&mut self, t: Target, stmts: &[Stmt]) -> Seq {
        let mut out = Vec::new();
        self.project_into(t, stmts, &mut out);
        out
    }

    fn project_into(&mut self, t: Target, stmts: &[Stmt], out: &mut Seq) {
        for s in stmts {
            match s {
                Stmt::Message(m) => {
                    if self.includes(&m.from, t) {
                        out.push(Action::Send {
                            to: m.to.clone(),
                            label: m.label.clone(),
                            msg: MsgRef::Stmt(m.id),
                        });
                    } else if self.includes(&m.to, t) {
                        out.push(Action::Recv {
                            from: m.from.clone(),
                            label: m.label.clone(),
                            msg: MsgRef::Stmt(m.id),
                        });
                    }
                }
                Stmt::Choice(c) => {
                    if self.includes(&c.chooser, t) {
                        let mut branches: Vec<(String, Seq)> = c
                            .branches
                            .iter()
                            .map(|b| (b.label.clone(), self.project(t, &b.body)))
                            .collect();
                        branches.sort_by(|a, b| a.0.cmp(&b.0));
                        out.push(Action::Select {
                            decision: local::Decision::Case(c.id),
                            branches,
                        });
                    } else {
                        let merged = self.merge_branches(t, c);
                        out.extend(merged);
                    }
                }
                Stmt::Loop(l) => self.project_loop(t, l, out),
                Stmt::ForEach(e) => {
                    let member = e.family == t.role() && !matches!(t, Target::Role(_));
                    self.for_scope.push((e.var.clone(), e.family));
                    if member {
                        self.self_vars.push(e.var.clone());
                        self.project_into(t, &e.body, out);
                        self.self_vars.pop();
                    } else {
                        let body = self.project(t, &e.body);
                        if !body.is_empty() {
                            out.push(Action::Foreach {
                                family: e.family,
                                var: e.var.clone(),
                                body,
                            });
                        }
                    }
                    self.for_scope.pop();
                }
            }
        }
    }
}
