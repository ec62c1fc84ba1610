//! Rules that look at a whole choice or loop once it is resolved:
//! rule 6 (the chooser acts first), the shape of family choices, and
//! rule 7 (the decider of a loop takes part; reserved control labels).

use super::model::*;
use crate::diag::{Code, Diagnostic, Span};

/// Calls `f` on every message of `stmts`, nested ones included.
pub fn each_message<'m>(stmts: &'m [Stmt], f: &mut impl FnMut(&'m Message)) {
    for s in stmts {
        match s {
            Stmt::Message(m) => f(m),
            Stmt::Choice(c) => c.branches.iter().for_each(|b| each_message(&b.body, f)),
            Stmt::Loop(l) => each_message(&l.body, f),
            Stmt::ForEach(e) => each_message(&e.body, f),
        }
    }
}

/// Whether participant `p` stands for (among others) the one member or role `who`.
pub fn includes(p: &Participant, who: &Participant) -> bool {
    if p.role != who.role {
        return false;
    }
    match (&p.sel, &who.sel) {
        (a, b) if a == b => true,
        (Sel::All | Sel::Var(_), Sel::Member(_)) => true,
        (Sel::Range(a, b), Sel::Member(k)) => a <= k && k < b,
        _ => false,
    }
}

/// The possible first senders of a sequence, with the span to blame.
fn first_senders(stmts: &[Stmt], out: &mut Vec<(Participant, Span)>) {
    for s in stmts {
        let before = out.len();
        let may_skip = match s {
            Stmt::Message(m) => {
                out.push((m.from.clone(), m.span));
                false
            }
            Stmt::Choice(c) => {
                let mut empty = false;
                for b in &c.branches {
                    let n = out.len();
                    first_senders(&b.body, out);
                    empty |= out.len() == n;
                }
                empty
            }
            Stmt::Loop(l) => match &l.kind {
                LoopKind::Decide(r) => {
                    out.push((r.clone(), l.span));
                    false
                }
                _ => {
                    first_senders(&l.body, out);
                    false
                }
            },
            Stmt::ForEach(e) => {
                first_senders(&e.body, out);
                false
            }
        };
        if out.len() > before && !may_skip {
            return;
        }
    }
}

/// Rule 6 and the shape of branches chosen by a whole family.
pub(super) fn check_choice(roles: &[Role], c: &Choice, diags: &mut Vec<Diagnostic>) {
    let chooser = &c.chooser;
    let name = |p: &Participant| participant_name(roles, p);
    for b in &c.branches {
        let mut firsts = Vec::new();
        first_senders(&b.body, &mut firsts);
        for (sender, span) in firsts {
            if sender != *chooser {
                diags.push(
                    Diagnostic::new(
                        Code::ChooserNotFirst,
                        format!(
                            "branch `{}` starts with a message from `{}`, not from the chooser `{}`",
                            b.label,
                            name(&sender),
                            name(chooser)
                        ),
                        span,
                        "sent before the chooser has told anyone",
                    )
                    .with_label(c.span, "the choice")
                    .with_help(format!(
                        "make `{}` act first in every branch: only it knows which branch was taken",
                        name(chooser)
                    )),
                );
            }
        }
        if chooser.sel == Sel::All {
            for s in &b.body {
                let ok = matches!(s, Stmt::Message(m) if m.from == *chooser || m.to == *chooser);
                if !ok {
                    let span = match s {
                        Stmt::Message(m) => m.span,
                        Stmt::Choice(x) => x.span,
                        Stmt::Loop(x) => x.span,
                        Stmt::ForEach(x) => x.span,
                    };
                    diags.push(
                        Diagnostic::new(
                            Code::FamilyBranchShape,
                            format!(
                                "in a branch chosen by each member of `{}`, every statement must be a message to or from `{}`",
                                roles[chooser.role].name,
                                name(chooser)
                            ),
                            span,
                            "not a message of the choosing member",
                        )
                        .with_label(c.span, "each member chooses here")
                        .with_help("each member's choice is known only to the roles it talks to in the branch"),
                    );
                }
            }
        }
    }
}

/// Rule 7: the decider takes part in the body; reserved labels; family deciders.
pub(super) fn check_decide(
    roles: &[Role],
    l: &Loop,
    decider_span: Span,
    diags: &mut Vec<Diagnostic>,
) {
    let LoopKind::Decide(r) = &l.kind else { return };
    let name = participant_name(roles, r);
    let mut takes_part = false;
    let mut whole_family = None;
    each_message(&l.body, &mut |m| {
        takes_part |= includes(&m.from, r) || includes(&m.to, r);
        if m.from == *r && (m.label == "Continue" || m.label == "Done") {
            diags.push(
                Diagnostic::new(
                    Code::ReservedLabel,
                    format!(
                        "`{}` is reserved for the decisions of `{name}` in this loop",
                        m.label
                    ),
                    m.span,
                    "reserved label",
                )
                .with_label(l.span, "the loop")
                .with_help(
                    "rename the message: the compiler adds `Continue` and `Done` messages itself",
                ),
            );
        }
        for p in [&m.from, &m.to] {
            if r.sel != Sel::Single && p.role == r.role && matches!(p.sel, Sel::All | Sel::Var(_)) {
                whole_family.get_or_insert(m.span);
            }
        }
    });
    each_loop(&l.body, &mut |inner| {
        if let LoopKind::Decide(d) = &inner.kind {
            takes_part |= includes(d, r);
        }
    });
    if !takes_part {
        diags.push(
            Diagnostic::new(
                Code::DeciderAbsent,
                format!("`{name}` decides this loop but takes no part in its body"),
                decider_span,
                "decides, but never sends or receives in the loop",
            )
            .with_help("let a role that takes part in the rounds decide them"),
        );
    }
    if let Some(span) = whole_family {
        diags.push(
            Diagnostic::new(
                Code::DeciderFamily,
                format!(
                    "`{name}` decides a loop in which all of `{}` takes part",
                    roles[r.role].name
                ),
                span,
                "the whole family takes part here",
            )
            .with_label(decider_span, "decided by one member")
            .with_help(
                "the decision would have to be sent to the decider itself; let another role decide",
            ),
        );
    }
}

fn each_loop<'m>(stmts: &'m [Stmt], f: &mut impl FnMut(&'m Loop)) {
    for s in stmts {
        match s {
            Stmt::Message(_) => {}
            Stmt::Choice(c) => c.branches.iter().for_each(|b| each_loop(&b.body, f)),
            Stmt::Loop(l) => {
                f(l);
                each_loop(&l.body, f)
            }
            Stmt::ForEach(e) => each_loop(&e.body, f),
        }
    }
}
