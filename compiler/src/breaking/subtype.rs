//! Synchronous session subtyping between two versions of one role's local
//! type: can the new implementation replace the old one among old peers?
//!
//! `new ≤ old` holds when, walking both machines together,
//! - where the new role sends, some state the old one may be in sends the
//!   same message (same peer, label and payload types): a new role sends only
//!   what old peers expect;
//! - where the new role receives, every state the old one may be in receives
//!   from the same peer, and the new role accepts every message the old one
//!   did (it may accept more): a new role accepts everything old peers send;
//! - the new role ends (or finishes a round) where the old one may;
//! - `repeat` and `foreach` match with the same count or family, body and
//!   continuation checked alike.
//!
//! A choice the role makes is internal: every branch of the new version must
//! pass against the set of states the old one may then be in (the branch
//! label itself is not on the wire). Loops make the machines cyclic; the walk
//! is coinductive: a pair (new state, set of old states) already visited is
//! assumed to hold, so it terminates. The walk is a worklist, never a
//! recursion, so long protocols cannot exhaust the stack.

use super::machine::{Kind, Machine, Step};
use crate::diag::Span;
use petgraph::graph::NodeIndex;
use std::collections::{BTreeSet, HashSet};

/// The most (new state, old states) pairs one check visits; beyond, the
/// versions are reported as not known to be compatible.
pub const MAX_PAIRS: usize = 200_000;

/// One place where the new version cannot replace the old one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mismatch {
    /// Where, in the new version.
    pub new: Span,
    /// Where, in the old version.
    pub old: Span,
    /// What goes wrong, in words.
    pub message: String,
}

/// The result of one check.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every mismatch found (empty: `new ≤ old`).
    pub mismatches: Vec<Mismatch>,
    /// Message statements of the two versions matched with each other: (new id, old id).
    pub pairs: BTreeSet<(usize, usize)>,
}

/// Checks `new ≤ old` for one role called `role`.
pub fn check(new: &Machine, old: &Machine, role: &str) -> Outcome {
    let mut out = Outcome::default();
    let mut seen: HashSet<(NodeIndex, Vec<NodeIndex>)> = HashSet::new();
    let mut work: Vec<(NodeIndex, Vec<NodeIndex>, Span, Span)> = Vec::new();
    let start_span = (new.state(new.start).span, old.state(old.start).span);
    for m in new.settle([new.start]) {
        work.push((m, old.settle([old.start]), start_span.0, start_span.1));
    }
    let report = |out: &mut Outcome, new: Span, old: Span, message: String| {
        let m = Mismatch { new, old, message };
        if !out.mismatches.contains(&m) {
            out.mismatches.push(m);
        }
    };
    while let Some((m, olds, at_new, at_old)) = work.pop() {
        if !seen.insert((m, olds.clone())) {
            continue;
        }
        if seen.len() > MAX_PAIRS {
            report(
                &mut out,
                at_new,
                at_old,
                format!("`{role}` is too large to compare (more than {MAX_PAIRS} states)"),
            );
            break;
        }
        let ms = new.state(m);
        let here_new = if ms.kind == Kind::End {
            at_new
        } else {
            ms.span
        };
        let first_old = olds.first().map_or(at_old, |&o| old.state(o).span);
        let old_does = || describe_all(old, &olds);
        let mut push = |n: NodeIndex, o: Vec<NodeIndex>| {
            for n in new.settle([n]) {
                work.push((n, old.settle(o.iter().copied()), here_new, first_old));
            }
        };
        match &ms.kind {
            Kind::End | Kind::RoundEnd | Kind::Diverge => {
                if !olds.iter().any(|&o| old.state(o).kind == ms.kind) {
                    let what = match ms.kind {
                        Kind::End => "ends its part",
                        Kind::RoundEnd => "ends the round",
                        _ => "loops doing nothing",
                    };
                    report(
                        &mut out,
                        here_new,
                        first_old,
                        format!(
                            "a new `{role}` {what} here, where an old one {}",
                            old_does()
                        ),
                    );
                }
            }
            Kind::Send(w) => {
                let same: Vec<NodeIndex> = olds
                    .iter()
                    .copied()
                    .filter(|&o| matches!(&old.state(o).kind, Kind::Send(v) if v.peer == w.peer && v.label == w.label))
                    .collect();
                let exact: Vec<NodeIndex> = same
                    .iter()
                    .copied()
                    .filter(|&o| matches!(&old.state(o).kind, Kind::Send(v) if v == w))
                    .collect();
                if same.is_empty() {
                    report(
                        &mut out,
                        here_new,
                        first_old,
                        format!(
                            "a new `{role}` sends `{}` to `{}` here, which old peers do not expect: an old `{role}` {}",
                            w.label,
                            w.peer,
                            old_does()
                        ),
                    );
                    continue;
                }
                if exact.is_empty() {
                    let o = same[0];
                    let Kind::Send(v) = &old.state(o).kind else {
                        continue;
                    };
                    report(
                        &mut out,
                        here_new,
                        old.state(o).span,
                        format!(
                            "`{}` from `{role}` to `{}` carries {} in the new version and {} in the old",
                            w.label,
                            w.peer,
                            types(&w.payload),
                            types(&v.payload)
                        ),
                    );
                    continue;
                }
                for &o in &exact {
                    if let (Some(a), Some(b)) = (ms.msg, old.state(o).msg) {
                        out.pairs.insert((a, b));
                    }
                }
                if let Some(next) = new.follow(m, &Step::Next) {
                    let o: Vec<NodeIndex> = exact
                        .iter()
                        .filter_map(|&o| old.follow(o, &Step::Next))
                        .collect();
                    push(next, o);
                }
            }
            Kind::Recv { peer } => {
                let alts = new.alts(m);
                let mut next_pairs: Vec<(NodeIndex, Vec<NodeIndex>)> = Vec::new();
                let mut ok = true;
                for &o in &olds {
                    let os = old.state(o);
                    let Kind::Recv { peer: op } = &os.kind else {
                        report(
                            &mut out,
                            here_new,
                            os.span,
                            format!(
                                "a new `{role}` waits for a message from `{peer}` here, where an old one {}",
                                describe(old, o)
                            ),
                        );
                        ok = false;
                        continue;
                    };
                    if op != peer {
                        report(
                            &mut out,
                            here_new,
                            os.span,
                            format!(
                                "a new `{role}` waits for `{peer}` here, where an old one waits for `{op}`"
                            ),
                        );
                        ok = false;
                        continue;
                    }
                    for (w, old_id, old_span, target) in old.alts(o) {
                        match alts.iter().find(|(v, _, _, _)| v.label == w.label) {
                            None => {
                                report(
                                    &mut out,
                                    here_new,
                                    old_span,
                                    format!(
                                        "a new `{role}` does not accept `{}` from `{peer}` here, which old peers may send",
                                        w.label
                                    ),
                                );
                                ok = false;
                            }
                            Some((v, _, new_span, _)) if v.payload != w.payload => {
                                report(
                                    &mut out,
                                    *new_span,
                                    old_span,
                                    format!(
                                        "`{}` from `{peer}` to `{role}` carries {} in the new version and {} in the old",
                                        w.label,
                                        types(&v.payload),
                                        types(&w.payload)
                                    ),
                                );
                                ok = false;
                            }
                            Some((_, new_id, _, new_target)) => {
                                if let (Some(a), Some(b)) = (new_id, old_id) {
                                    out.pairs.insert((*a, b));
                                }
                                match next_pairs.iter_mut().find(|(n, _)| n == new_target) {
                                    Some((_, os)) => os.push(target),
                                    None => next_pairs.push((*new_target, vec![target])),
                                }
                            }
                        }
                    }
                }
                if ok {
                    for (n, o) in next_pairs {
                        push(n, o);
                    }
                }
            }
            Kind::Repeat(_) | Kind::Foreach(_) => {
                let mismatch = olds.iter().find(|&&o| old.state(o).kind != ms.kind);
                if let Some(&o) = mismatch {
                    report(
                        &mut out,
                        here_new,
                        old.state(o).span,
                        format!(
                            "a new `{role}` {} here, where an old one {}",
                            describe(new, m),
                            describe(old, o)
                        ),
                    );
                    continue;
                }
                for step in [Step::Body, Step::Next] {
                    if let Some(n) = new.follow(m, &step) {
                        let o = olds.iter().filter_map(|&o| old.follow(o, &step)).collect();
                        push(n, o);
                    }
                }
            }
            Kind::Tau => {}
        }
    }
    out.mismatches.sort();
    out
}

fn types(payload: &[String]) -> String {
    if payload.is_empty() {
        "no payload".into()
    } else {
        format!("`({})`", payload.join(", "))
    }
}

/// What a machine does in state `n`, in words.
pub fn describe(m: &Machine, n: NodeIndex) -> String {
    match &m.state(n).kind {
        Kind::End => "ends its part".into(),
        Kind::RoundEnd => "ends the round".into(),
        Kind::Diverge => "loops doing nothing".into(),
        Kind::Send(w) => format!("sends `{}` to `{}`", w.label, w.peer),
        Kind::Recv { peer } => {
            let labels: Vec<String> = m
                .alts(n)
                .iter()
                .map(|(w, _, _, _)| format!("`{}`", w.label))
                .collect();
            format!("receives {} from `{peer}`", labels.join(" or "))
        }
        Kind::Tau => "chooses".into(),
        Kind::Repeat(c) => format!("repeats a round {c} times"),
        Kind::Foreach(f) => format!("runs a round per member of `{f}`"),
    }
}

fn describe_all(m: &Machine, states: &[NodeIndex]) -> String {
    let mut parts: Vec<String> = states.iter().map(|&n| describe(m, n)).collect();
    parts.dedup();
    match parts.len() {
        0 => "does nothing".into(),
        1 => parts.remove(0),
        _ => format!("either {}", parts.join(", or ")),
    }
}
