//! Merging the projections of a choice's branches for a role that does not
//! choose (rule 5): common actions are kept once; where the branches first
//! differ, they must be receives from one sender with distinct labels. A
//! message kept once stands for the same message of every branch, so those
//! must be written alike (`E0502`).

use super::local::{Action, Alt, MsgRef, Seq};
use super::{target_name, Projector, Target};
use crate::check::model::{
    participant_name, Annotations, Choice, Message, Participant, Payload, Role,
};
use crate::diag::{Code, Diagnostic};

/// Messages that a merge keeps once: (kept, dropped) statement ids, and
/// whether they are sends of the role (else receives).
type Merged = Vec<(usize, usize, bool)>;

/// Why two branch projections do not merge: the first differing actions
/// (`None` where a branch has already ended).
struct Conflict {
    left: Option<Action>,
    right: Option<Action>,
}

impl Projector<'_> {
    /// Projects every branch of `c` onto `t` (which does not choose) and merges them.
    pub(super) fn merge_branches(&mut self, t: Target, c: &Choice) -> Seq {
        let projections: Vec<Seq> = c
            .branches
            .iter()
            .map(|b| self.project(t, &b.body))
            .collect();
        let mut acc: Option<Seq> = None;
        for (k, p) in projections.iter().enumerate() {
            let Some(so_far) = &acc else {
                acc = Some(p.clone());
                continue;
            };
            let mut merged = Merged::new();
            match merge(so_far, p, &mut merged) {
                Ok(m) => {
                    acc = Some(m);
                    for (kept, dropped, send) in merged {
                        self.check_alike(t, c, kept, dropped, send);
                    }
                }
                Err(_) => {
                    // Name the first earlier branch that this one cannot be told apart from.
                    let (j, conflict) = (0..k)
                        .find_map(|j| {
                            merge(&projections[j], p, &mut Merged::new())
                                .err()
                                .map(|c| (j, c))
                        })
                        .unwrap_or((
                            0,
                            Box::new(Conflict {
                                left: None,
                                right: None,
                            }),
                        ));
                    self.report(t, c, j, k, &conflict);
                }
            }
        }
        acc.unwrap_or_default()
    }

    fn report(&mut self, t: Target, c: &Choice, j: usize, k: usize, conflict: &Conflict) {
        if !self.reported.insert((c.span.start, t)) {
            return;
        }
        let roles = &self.protocol.roles;
        let who = target_name(self.protocol, t);
        let chooser = participant_name(roles, &c.chooser);
        let (a, b) = (&c.branches[j], &c.branches[k]);
        let detail = format!(
            "in `{}` it {}, in `{}` it {}",
            a.label,
            describe(conflict.left.as_ref(), roles),
            b.label,
            describe(conflict.right.as_ref(), roles)
        );
        self.diags.push(
            Diagnostic::new(
                Code::UnknowableChoice,
                format!("role `{who}` cannot tell branches `{}` and `{}` apart", a.label, b.label),
                c.span,
                format!("`{chooser}` chooses here; `{who}` is not told which branch"),
            )
            .with_label(a.span, detail)
            .with_label(b.span, format!("branch `{}`", b.label))
            .with_help(format!(
                "`{who}` must behave the same in every branch, or first receive, in each branch, a message \
                 with a distinct label from the same sender (for example from `{chooser}`)"
            )),
        );
    }
}

impl<'a> Projector<'a> {
    /// Reports `E0502` when two statements merged into one message of `t`
    /// differ in what the generated code does with it: for a send, the
    /// sender's annotations (its guard), its attributes or its payload; for
    /// a receive, its payload.
    fn check_alike(&mut self, t: Target, c: &Choice, kept: usize, dropped: usize, send: bool) {
        let (Some(a), Some(b)) = (self.message(kept), self.message(dropped)) else {
            return;
        };
        let mut differ = Vec::new();
        if payload(a) != payload(b) {
            differ.push("payload");
        }
        if send && annotations(a) != annotations(b) {
            differ.push("sender annotations");
        }
        if send && (a.attrs != b.attrs || a.parallel != b.parallel) {
            differ.push("attributes");
        }
        if differ.is_empty()
            || !self
                .alike_reported
                .insert((kept.min(dropped), kept.max(dropped)))
        {
            return;
        }
        let roles = &self.protocol.roles;
        let who = target_name(self.protocol, t);
        let (first, later) = if a.span.start <= b.span.start {
            (a, b)
        } else {
            (b, a)
        };
        let verb = if send { "sends" } else { "receives" };
        let peer = if send {
            participant_name(roles, &first.to)
        } else {
            participant_name(roles, &first.from)
        };
        let what = differ.join(" and ");
        let chooser = participant_name(roles, &c.chooser);
        self.diags.push(
            Diagnostic::new(
                Code::MergedMessagesDiffer,
                format!(
                    "`{who}` {verb} `{}` without knowing the branch, but the branches write it with different {what}",
                    first.label
                ),
                later.span,
                format!("this `{}` differs in its {what}", later.label),
            )
            .with_label(first.span, format!("from this `{}`", first.label))
            .with_label(c.span, format!("`{chooser}` chooses here; `{who}` is not told which branch"))
            .with_help(format!(
                "`{who}` runs one `{}` {} `{peer}` for every branch, so it cannot apply either branch's {what}: \
                 write the message alike in every branch, or tell `{who}` the branch first",
                first.label,
                if send { "to" } else { "from" }
            )),
        );
    }

    /// The message statement with this id.
    fn message(&self, id: usize) -> Option<&'a Message> {
        self.messages.get(id).copied().flatten()
    }
}

/// A message's payload, without the spaces inside its types.
fn payload(m: &Message) -> Payload {
    let squeeze = |t: &String| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    match &m.payload {
        Payload::Unit => Payload::Unit,
        Payload::Type(t) => Payload::Type(squeeze(t)),
        Payload::Fields(f) => {
            Payload::Fields(f.iter().map(|(n, t)| (n.clone(), squeeze(t))).collect())
        }
    }
}

/// A message's sender annotations, none written being the same as `[]`
/// and capabilities in any order the same.
fn annotations(m: &Message) -> Annotations {
    let mut a = m.from_annotations.as_deref().cloned().unwrap_or_default();
    a.guard_capability.sort();
    a.guard_capability.dedup();
    a
}

fn describe(a: Option<&Action>, roles: &[Role]) -> String {
    let name = |p: &Participant| participant_name(roles, p);
    match a {
        None => "does nothing more".into(),
        Some(Action::Send { to, label, .. }) => format!("sends `{label}` to `{}`", name(to)),
        Some(Action::Recv { from, label, .. }) => {
            format!("receives `{label}` from `{}`", name(from))
        }
        Some(Action::Branch { from, .. }) => format!("receives from `{}`", name(from)),
        Some(Action::Select { .. }) => "makes a choice".into(),
        Some(Action::Loop { .. } | Action::Jump(_)) => "enters a loop".into(),
        Some(Action::Repeat { .. }) => "repeats a round".into(),
        Some(Action::Foreach { .. }) => "runs a round per member".into(),
    }
}

/// Merges two branch projections, or says where they conflict; `merged`
/// gets the messages of `b` that the result keeps only as those of `a`.
fn merge(a: &Seq, b: &Seq, merged: &mut Merged) -> Result<Seq, Box<Conflict>> {
    let mut same = Same::default();
    let i = a
        .iter()
        .zip(b)
        .take_while(|(x, y)| same.action(x, y))
        .count();
    merged.append(&mut same.merged);
    if i == a.len() && i == b.len() {
        return Ok(a.clone());
    }
    let conflict = || {
        Box::new(Conflict {
            left: a.get(i).cloned(),
            right: b.get(i).cloned(),
        })
    };
    let (Some((fa, mut alts)), Some((fb, others))) = (alternatives(&a[i..]), alternatives(&b[i..]))
    else {
        return Err(conflict());
    };
    if fa != fb {
        return Err(conflict());
    }
    for alt in others {
        match alts.iter_mut().find(|x| x.label == alt.label) {
            Some(x) => {
                if let (MsgRef::Stmt(k), MsgRef::Stmt(d)) = (x.msg, alt.msg) {
                    if k != d {
                        merged.push((k, d, false));
                    }
                }
                x.body = merge(&x.body, &alt.body, merged)?;
            }
            None => alts.push(alt),
        }
    }
    alts.sort_by(|x, y| x.label.cmp(&y.label));
    let mut out = a[..i].to_vec();
    out.push(Action::Branch { from: fa, alts });
    Ok(out)
}

/// Two actions are the same when they do the same thing, whichever
/// statements and loops they come from: message and loop ids are ignored
/// (loops are compared up to the renaming of their ids). The messages of
/// actions found the same are collected in `merged`.
#[derive(Default)]
struct Same {
    /// Loops entered on both sides: (left id, right id), innermost last.
    loops: Vec<(usize, usize)>,
    merged: Merged,
}

impl Same {
    fn seq(&mut self, a: &[Action], b: &[Action]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| self.action(x, y))
    }

    /// Whether `x` and `y` are the same; if not, `merged` is left as it was.
    fn action(&mut self, x: &Action, y: &Action) -> bool {
        let before = self.merged.len();
        let same = self.compare(x, y);
        if !same {
            self.merged.truncate(before);
        }
        same
    }

    fn compare(&mut self, x: &Action, y: &Action) -> bool {
        let pair = |a: &MsgRef, b: &MsgRef, send: bool| match (a, b) {
            (MsgRef::Stmt(k), MsgRef::Stmt(d)) if k != d => Some((*k, *d, send)),
            _ => None,
        };
        match (x, y) {
            (
                Action::Send {
                    to: a,
                    label: l,
                    msg: i,
                },
                Action::Send {
                    to: b,
                    label: m,
                    msg: j,
                },
            ) => {
                let same = a == b && l == m;
                self.merged.extend(pair(i, j, true).filter(|_| same));
                same
            }
            (
                Action::Recv {
                    from: a,
                    label: l,
                    msg: i,
                },
                Action::Recv {
                    from: b,
                    label: m,
                    msg: j,
                },
            ) => {
                let same = a == b && l == m;
                self.merged.extend(pair(i, j, false).filter(|_| same));
                same
            }
            (Action::Select { branches: a, .. }, Action::Select { branches: b, .. }) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((l, x), (m, y))| l == m && self.seq(x, y))
            }
            (Action::Branch { from: f, alts: a }, Action::Branch { from: g, alts: b }) => {
                f == g
                    && a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| {
                        self.merged.extend(pair(&x.msg, &y.msg, false));
                        x.label == y.label && self.seq(&x.body, &y.body)
                    })
            }
            (Action::Loop { id: i, body: a }, Action::Loop { id: j, body: b }) => {
                self.loops.push((*i, *j));
                let same = self.seq(a, b);
                self.loops.pop();
                same
            }
            (Action::Jump(i), Action::Jump(j)) => self
                .loops
                .iter()
                .rev()
                .find(|(l, _)| l == i)
                .map_or(i == j, |(_, r)| r == j),
            (Action::Repeat { count: c, body: a }, Action::Repeat { count: d, body: b }) => {
                c == d && self.seq(a, b)
            }
            (
                Action::Foreach {
                    family: f,
                    var: v,
                    body: a,
                },
                Action::Foreach {
                    family: g,
                    var: w,
                    body: b,
                },
            ) => f == g && v == w && self.seq(a, b),
            _ => false,
        }
    }
}

/// A sequence that starts with a receive, seen as an external choice.
fn alternatives(seq: &[Action]) -> Option<(Participant, Vec<Alt>)> {
    let (first, rest) = seq.split_first()?;
    match first {
        Action::Recv { from, label, msg } => Some((
            from.clone(),
            vec![Alt {
                label: label.clone(),
                msg: *msg,
                body: rest.to_vec(),
            }],
        )),
        Action::Branch { from, alts } => Some((
            from.clone(),
            alts.iter()
                .map(|a| {
                    let mut body = a.body.clone();
                    body.extend_from_slice(rest);
                    Alt {
                        label: a.label.clone(),
                        msg: a.msg,
                        body,
                    }
                })
                .collect(),
        )),
        _ => None,
    }
}
