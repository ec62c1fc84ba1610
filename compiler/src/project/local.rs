//! Local types: each role's sequence of sends and receives, and their
//! canonical one-line notation (language reference, section 7).
//!
//! A sequence is a `Vec<Action>`; what follows a choice or loop in the
//! protocol follows it in the same vector, so the representation stays linear
//! in the size of the protocol.

use crate::check::model::{participant_name, Count, Participant, Role};
use std::fmt::Write as _;

/// Which message statement (or added control message) an action stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MsgRef {
    /// The message statement with this id.
    Stmt(usize),
    /// The `Continue` control message of the loop with this id.
    Continue(usize),
    /// The `Done` control message of the loop with this id.
    Done(usize),
}

/// One step of a local type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `!B.Label`.
    Send {
        /// The receiver, as written in the protocol.
        to: Participant,
        /// The label.
        label: String,
        /// The message.
        msg: MsgRef,
    },
    /// `?B.Label`.
    Recv {
        /// The sender, as written in the protocol.
        from: Participant,
        /// The label.
        label: String,
        /// The message.
        msg: MsgRef,
    },
    /// `+{A: T1, B: T2}`: this role picks the branch.
    Select {
        /// Which decision of the protocol this is.
        decision: Decision,
        /// The branches, sorted by label.
        branches: Vec<(String, Seq)>,
    },
    /// `&{?B.M1; T1, ?B.M2; T2}`: told apart by the first message received.
    Branch {
        /// The sender of the first messages.
        from: Participant,
        /// The alternatives, sorted by label.
        alts: Vec<Alt>,
    },
    /// `mu L. T`: a loop; [`Action::Jump`] with the same id starts the next round.
    Loop {
        /// Identifies the loop within this local type.
        id: usize,
        /// The loop body.
        body: Seq,
    },
    /// `L`: go back to the start of the enclosing loop with this id.
    Jump(usize),
    /// `repeat N {T}`.
    Repeat {
        /// How many rounds.
        count: Count,
        /// One round.
        body: Seq,
    },
    /// `foreach F {T}`: one round per member of the family.
    Foreach {
        /// The family (a role id).
        family: usize,
        /// The index variable.
        var: String,
        /// One round.
        body: Seq,
    },
}

/// A decision a role makes: a `case` it chooses, or whether a loop it
/// decides runs another round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decision {
    /// The choice with this id.
    Case(usize),
    /// The `loop decide by` with this id (`Continue` or `Done`).
    Loop(usize),
}

/// One alternative of an external choice: receive `label`, then `body`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alt {
    /// The label of the message received.
    pub label: String,
    /// The message received.
    pub msg: MsgRef,
    /// What follows its receipt.
    pub body: Seq,
}

/// A sequence of actions.
pub type Seq = Vec<Action>;

/// Prints a local type in the canonical notation, ending with `end`.
pub fn print(seq: &[Action], roles: &[Role]) -> String {
    let mut p = Printer {
        roles,
        out: String::new(),
        loops: Vec::new(),
        next: 1,
    };
    if !seq.is_empty() {
        p.seq(seq);
        p.out.push_str("; ");
    }
    p.out.push_str("end");
    p.out
}

struct Printer<'a> {
    roles: &'a [Role],
    out: String,
    /// Loop ids in scope with their printed numbers, innermost last.
    loops: Vec<(usize, usize)>,
    next: usize,
}

impl Printer<'_> {
    fn seq(&mut self, seq: &[Action]) {
        if seq.is_empty() {
            self.out.push_str("skip");
            return;
        }
        let scope = self.loops.len();
        for (i, a) in seq.iter().enumerate() {
            if i > 0 {
                self.out.push_str("; ");
            }
            self.action(a);
        }
        self.loops.truncate(scope);
    }

    fn peer(&mut self, p: &Participant) {
        self.out.push_str(&participant_name(self.roles, p));
    }

    fn action(&mut self, a: &Action) {
        match a {
            Action::Send { to, label, .. } => {
                self.out.push('!');
                self.peer(to);
                self.out.push('.');
                self.out.push_str(label);
            }
            Action::Recv { from, label, .. } => {
                self.out.push('?');
                self.peer(from);
                self.out.push('.');
                self.out.push_str(label);
            }
            Action::Select { branches, .. } => {
                self.out.push_str("+{");
                for (i, (label, body)) in branches.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push_str(label);
                    self.out.push_str(": ");
                    self.seq(body);
                }
                self.out.push('}');
            }
            Action::Branch { from, alts } => {
                self.out.push_str("&{");
                for (i, alt) in alts.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push('?');
                    self.peer(from);
                    self.out.push('.');
                    self.out.push_str(&alt.label);
                    if !alt.body.is_empty() {
                        self.out.push_str("; ");
                        self.seq(&alt.body);
                    }
                }
                self.out.push('}');
            }
            Action::Loop { id, body } => {
                let n = self.next;
                self.next += 1;
                let _ = write!(self.out, "mu L{n}. ");
                // The loop variable stays in scope for the rest of the
                // enclosing sequence, which the body runs into.
                self.loops.push((*id, n));
                self.seq(body);
            }
            Action::Jump(id) => {
                let n = self
                    .loops
                    .iter()
                    .rev()
                    .find(|(l, _)| l == id)
                    .map_or(0, |(_, n)| *n);
                let _ = write!(self.out, "L{n}");
            }
            Action::Repeat { count, body } => {
                match count {
                    Count::Const(n) => {
                        let _ = write!(self.out, "repeat {n} {{");
                    }
                    Count::Param(p) => {
                        let _ = write!(self.out, "repeat {p} {{");
                    }
                }
                self.seq(body);
                self.out.push('}');
            }
            Action::Foreach { family, body, .. } => {
                let _ = write!(self.out, "foreach {} {{", self.roles[*family].name);
                self.seq(body);
                self.out.push('}');
            }
        }
    }
}
