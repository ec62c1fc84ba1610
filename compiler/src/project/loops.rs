//! Loops in local types, and the control messages of `loop decide by R`:
//! which roles must learn each decision, and for which of them the first
//! message of a round already tells them "another round" (fused).

use super::local::{Action, Alt, Decision, MsgRef, Seq};
use super::{Projector, Target};
use crate::check::model::{Loop, LoopKind, Participant, Sel};
use crate::check::rules::each_message;

/// The added control messages of one `loop decide by`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopPlan {
    /// Who decides.
    pub decider: Participant,
    /// Who must learn each decision, in declaration order.
    pub recipients: Vec<Recipient>,
}

/// A role (or members) that must learn the decisions of a loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The peer that control messages go to (`X`, `F[*]` or `F[k]`).
    pub peer: Participant,
    /// Whether the first message of every round already carries "another
    /// round" (then only `Done` is added).
    pub fused: bool,
    /// The local types this peer stands for.
    pub targets: Vec<Target>,
}

const CONTINUE: &str = "Continue";
const DONE: &str = "Done";

impl Projector<'_> {
    /// Appends the projection of loop `l` onto `t` to `out`.
    pub(super) fn project_loop(&mut self, t: Target, l: &Loop, out: &mut Seq) {
        match &l.kind {
            LoopKind::Repeat(count) => {
                let body = self.project(t, &l.body);
                if !body.is_empty() {
                    out.push(Action::Repeat {
                        count: count.clone(),
                        body,
                    });
                }
            }
            LoopKind::Forever => {
                let mut body = self.project(t, &l.body);
                if !body.is_empty() {
                    body.push(Action::Jump(l.id));
                    out.push(Action::Loop { id: l.id, body });
                }
            }
            LoopKind::Decide(decider) => {
                let plan = self.plan(l, decider);
                if self.includes(decider, t) {
                    let mut round: Seq = plan
                        .recipients
                        .iter()
                        .filter(|r| !r.fused)
                        .map(|r| control_send(r, CONTINUE, MsgRef::Continue(l.id)))
                        .collect();
                    self.project_into(t, &l.body, &mut round);
                    round.push(Action::Jump(l.id));
                    let done = plan
                        .recipients
                        .iter()
                        .map(|r| control_send(r, DONE, MsgRef::Done(l.id)))
                        .collect();
                    let select = Action::Select {
                        decision: Decision::Loop(l.id),
                        branches: vec![(CONTINUE.into(), round), (DONE.into(), done)],
                    };
                    out.push(Action::Loop {
                        id: l.id,
                        body: vec![select],
                    });
                } else if let Some(r) = plan.recipients.iter().find(|r| r.targets.contains(&t)) {
                    let round = self.project(t, &l.body);
                    let mut alts = if r.fused {
                        fused_alts(round, l.id)
                    } else {
                        let mut body = round;
                        body.push(Action::Jump(l.id));
                        vec![Alt {
                            label: CONTINUE.into(),
                            msg: MsgRef::Continue(l.id),
                            body,
                        }]
                    };
                    alts.push(Alt {
                        label: DONE.into(),
                        msg: MsgRef::Done(l.id),
                        body: Vec::new(),
                    });
                    alts.sort_by(|a, b| a.label.cmp(&b.label));
                    out.push(Action::Loop {
                        id: l.id,
                        body: vec![Action::Branch {
                            from: decider.clone(),
                            alts,
                        }],
                    });
                }
            }
        }
    }

    /// The control plan of a `loop decide by`, computed once per loop.
    fn plan(&mut self, l: &Loop, decider: &Participant) -> LoopPlan {
        if self.planned[l.id] {
            if let Some(plan) = &self.plans[l.id] {
                return plan.clone();
            }
        }
        self.planned[l.id] = true;
        let saved = std::mem::take(&mut self.self_vars);
        let mut rounds: Vec<(Target, Seq)> = Vec::new();
        for &u in self.targets {
            if self.includes(decider, u) {
                continue;
            }
            // Inside `for i in F`, a member of F sees its own round.
            self.self_vars = self
                .for_scope
                .iter()
                .filter(|(_, fam)| *fam == u.role() && !matches!(u, Target::Role(_)))
                .map(|(v, _)| v.clone())
                .collect();
            let round = self.project(u, &l.body);
            if !round.is_empty() {
                rounds.push((u, round));
            }
        }
        self.self_vars = saved;
        let fused = |seq: &Seq| match seq.first() {
            Some(Action::Recv { from, .. }) | Some(Action::Branch { from, .. }) => from == decider,
            _ => false,
        };
        let mut recipients = Vec::new();
        for (r, role) in self.protocol.roles.iter().enumerate() {
            let mine: Vec<&(Target, Seq)> = rounds.iter().filter(|(u, _)| u.role() == r).collect();
            if mine.is_empty() {
                continue;
            }
            if role.family.is_none() {
                let (u, seq) = mine[0];
                recipients.push(Recipient {
                    peer: Participant {
                        role: r,
                        sel: Sel::Single,
                    },
                    fused: fused(seq),
                    targets: vec![*u],
                });
                continue;
            }
            let family_targets = self
                .targets
                .iter()
                .filter(|u| u.role() == r && !self.includes(decider, **u))
                .count();
            // Inside `for v in F`, the member of the current round takes part
            // (unless the body addresses the whole family).
            let round_var = self
                .for_scope
                .iter()
                .rev()
                .find(|(_, fam)| *fam == r)
                .map(|(v, _)| v.clone());
            let mut whole = false;
            each_message(&l.body, &mut |m| {
                whole |= [&m.from, &m.to]
                    .iter()
                    .any(|p| p.role == r && p.sel == Sel::All)
            });
            if let (Some(var), false) = (round_var, whole) {
                recipients.push(Recipient {
                    peer: Participant {
                        role: r,
                        sel: Sel::Var(var),
                    },
                    fused: mine.iter().all(|(_, s)| fused(s)),
                    targets: mine.iter().map(|(u, _)| *u).collect(),
                });
            } else if mine.len() == family_targets && decider.role != r {
                recipients.push(Recipient {
                    peer: Participant {
                        role: r,
                        sel: Sel::All,
                    },
                    fused: mine.iter().all(|(_, s)| fused(s)),
                    targets: mine.iter().map(|(u, _)| *u).collect(),
                });
            } else {
                for (u, seq) in mine {
                    if let Target::Member(_, k) = u {
                        recipients.push(Recipient {
                            peer: Participant {
                                role: r,
                                sel: Sel::Member(*k),
                            },
                            fused: fused(seq),
                            targets: vec![*u],
                        });
                    }
                }
            }
        }
        let plan = LoopPlan {
            decider: decider.clone(),
            recipients,
        };
        self.plans[l.id] = Some(plan.clone());
        plan
    }
}

fn control_send(r: &Recipient, label: &str, msg: MsgRef) -> Action {
    Action::Send {
        to: r.peer.clone(),
        label: label.into(),
        msg,
    }
}

/// The alternatives of a round whose first action is a message from the
/// decider: each alternative runs the rest of the round, then the next one.
fn fused_alts(round: Seq, id: usize) -> Vec<Alt> {
    let mut it = round.into_iter();
    let first = it.next();
    let rest: Seq = it.chain(std::iter::once(Action::Jump(id))).collect();
    match first {
        Some(Action::Recv { label, msg, .. }) => vec![Alt {
            label,
            msg,
            body: rest,
        }],
        Some(Action::Branch { alts, .. }) => alts
            .into_iter()
            .map(|mut a| {
                a.body.extend(rest.iter().cloned());
                a
            })
            .collect(),
        _ => Vec::new(),
    }
}
