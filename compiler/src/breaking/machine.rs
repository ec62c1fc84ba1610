//! A local type as a state machine (a petgraph graph), the form the
//! subtyping check walks. States are what a role does next; what follows a
//! choice or a loop in the local type is the continuation of every way out of
//! it, and a loop's `L` is an edge back to its start, so the graph is finite
//! even when the session is not.
//!
//! Only what travels on the wire is kept: peers (by role name, index
//! variables renamed by the position of the `for` that binds them), labels,
//! and the payload's types in order. Which branch label a role picks is not on
//! the wire (the first message of the branch is), so a choice a role makes is
//! an internal (τ) choice here.

use crate::check::model::{self, Count, Payload, Protocol, Sel, Stmt};
use crate::diag::Span;
use crate::project::local::{Action, Decision, MsgRef, Seq};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::{BTreeSet, HashMap};

/// What a role does in a state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The session is over for this role.
    End,
    /// One round of a `repeat` or `foreach` body is over.
    RoundEnd,
    /// The role goes round a loop in which it does nothing.
    Diverge,
    /// Sends one message; one `Next` edge.
    Send(Wire),
    /// Receives one of several messages from one peer; one `Alt` edge each.
    Recv {
        /// The sender.
        peer: String,
    },
    /// Picks one of its `Tau` edges (a choice it makes, or a loop's start).
    Tau,
    /// `repeat N {body}`: a `Body` edge and a `Next` edge.
    Repeat(String),
    /// `foreach F {body}`: a `Body` edge and a `Next` edge.
    Foreach(String),
}

/// A message as it travels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wire {
    /// The peer (receiver of a send, sender of a receive).
    pub peer: String,
    /// The label in the frame.
    pub label: String,
    /// The payload's Rust types, in order (field names are not on the wire).
    pub payload: Vec<String>,
}

/// An edge of the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// To what follows.
    Next,
    /// An internal choice, or into a loop.
    Tau,
    /// Receipt of this message (with its statement and where it is
    /// written), then the target.
    Alt(Wire, Option<usize>, Span),
    /// Into a `repeat`/`foreach` body.
    Body,
}

/// A state: what the role does, where it is written, and which message
/// statement (for a send).
#[derive(Clone, Debug)]
pub struct State {
    /// What the role does.
    pub kind: Kind,
    /// Where it is written.
    pub span: Span,
    /// The message statement of a send, by id.
    pub msg: Option<usize>,
}

/// One role's local type as a machine.
pub struct Machine {
    /// The states and steps.
    pub graph: DiGraph<State, Step>,
    /// The first state.
    pub start: NodeIndex,
    /// The one `Diverge` state.
    pub diverge: NodeIndex,
}

impl Machine {
    /// The state at `n`.
    pub fn state(&self, n: NodeIndex) -> &State {
        &self.graph[n]
    }

    /// The target of the only edge of kind `step` from `n`.
    pub fn follow(&self, n: NodeIndex, step: &Step) -> Option<NodeIndex> {
        self.graph
            .edges(n)
            .find(|e| e.weight() == step)
            .map(|e| e.target())
    }

    /// The receive alternatives of `n`: (message, statement, where, target).
    pub fn alts(&self, n: NodeIndex) -> Vec<(&Wire, Option<usize>, Span, NodeIndex)> {
        let mut out: Vec<_> = self
            .graph
            .edges(n)
            .filter_map(|e| match e.weight() {
                Step::Alt(w, id, span) => Some((w, *id, *span, e.target())),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// The states other than τ reachable from `from` through τ steps only;
    /// a loop made of τ steps alone is the `Diverge` state.
    pub fn settle(&self, from: impl IntoIterator<Item = NodeIndex>) -> Vec<NodeIndex> {
        let mut seen = BTreeSet::new();
        let mut out = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = from.into_iter().collect();
        let roots = !stack.is_empty();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            if self.graph[n].kind == Kind::Tau {
                stack.extend(self.graph.edges(n).map(|e| e.target()));
            } else {
                out.insert(n);
            }
        }
        if out.is_empty() && roots {
            out.insert(self.diverge);
        }
        out.into_iter().collect()
    }
}

/// Where each message, choice and loop of a protocol is written.
pub struct Sites<'a> {
    protocol: &'a Protocol,
    messages: Vec<Option<&'a model::Message>>,
    loops: Vec<Span>,
    choices: Vec<Span>,
}

impl<'a> Sites<'a> {
    /// Indexes `protocol`.
    pub fn new(protocol: &'a Protocol) -> Self {
        let mut s = Sites {
            protocol,
            messages: vec![None; protocol.messages],
            loops: vec![protocol.span; protocol.loops],
            choices: vec![protocol.span; protocol.choices],
        };
        s.walk(&protocol.body);
        s
    }

    fn walk(&mut self, stmts: &'a [Stmt]) {
        for st in stmts {
            match st {
                Stmt::Message(m) => {
                    if let Some(slot) = self.messages.get_mut(m.id) {
                        *slot = Some(m);
                    }
                }
                Stmt::Choice(c) => {
                    if let Some(slot) = self.choices.get_mut(c.id) {
                        *slot = c.span;
                    }
                    c.branches.iter().for_each(|b| self.walk(&b.body));
                }
                Stmt::Loop(l) => {
                    if let Some(slot) = self.loops.get_mut(l.id) {
                        *slot = l.span;
                    }
                    self.walk(&l.body);
                }
                Stmt::ForEach(e) => self.walk(&e.body),
            }
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> &'a Protocol {
        self.protocol
    }

    /// The message statement with this id.
    pub fn message(&self, id: usize) -> Option<&'a model::Message> {
        self.messages.get(id).copied().flatten()
    }

    /// Where a message (or control message) is written.
    pub fn msg_span(&self, m: MsgRef) -> Span {
        match m {
            MsgRef::Stmt(id) => self.message(id).map_or(self.protocol.span, |m| m.span),
            MsgRef::Continue(l) | MsgRef::Done(l) => {
                self.loops.get(l).copied().unwrap_or(self.protocol.span)
            }
        }
    }

    fn payload(&self, m: MsgRef) -> Vec<String> {
        let Some(msg) = (match m {
            MsgRef::Stmt(id) => self.message(id),
            _ => None,
        }) else {
            return Vec::new();
        };
        match &msg.payload {
            Payload::Unit => Vec::new(),
            Payload::Type(t) if t == "()" => Vec::new(),
            Payload::Type(t) => vec![t.clone()],
            Payload::Fields(f) => f.iter().map(|(_, t)| t.clone()).collect(),
        }
    }
}

/// Builds the machine of a local type of `sites.protocol()`.
pub fn build(seq: &Seq, sites: &Sites<'_>) -> Machine {
    let mut graph = DiGraph::new();
    let span = sites.protocol.span;
    let end = graph.add_node(State {
        kind: Kind::End,
        span,
        msg: None,
    });
    let diverge = graph.add_node(State {
        kind: Kind::Diverge,
        span,
        msg: None,
    });
    let mut b = Builder {
        sites,
        graph,
        loops: Vec::new(),
        vars: Vec::new(),
        diverge,
    };
    let start = b.seq(seq, end);
    Machine {
        graph: b.graph,
        start,
        diverge,
    }
}

struct Builder<'s, 'a> {
    sites: &'s Sites<'a>,
    graph: DiGraph<State, Step>,
    /// Loops in scope: (loop id, its start state).
    loops: Vec<(usize, NodeIndex)>,
    /// Index variables bound by enclosing `foreach`, innermost last.
    vars: Vec<String>,
    diverge: NodeIndex,
}

impl Builder<'_, '_> {
    fn node(&mut self, kind: Kind, span: Span, msg: Option<usize>) -> NodeIndex {
        self.graph.add_node(State { kind, span, msg })
    }

    fn peer(&self, p: &model::Participant) -> String {
        let roles = &self.sites.protocol.roles;
        match &p.sel {
            Sel::Var(v) => match self.vars.iter().rposition(|x| x == v) {
                Some(k) => format!("{}[#{k}]", roles[p.role].name),
                None => model::participant_name(roles, p),
            },
            _ => model::participant_name(roles, p),
        }
    }

    fn wire(&self, p: &model::Participant, label: &str, m: MsgRef) -> Wire {
        Wire {
            peer: self.peer(p),
            label: label.to_string(),
            payload: self.sites.payload(m),
        }
    }

    /// The states of `seq` followed by `next`; returns the first.
    fn seq(&mut self, seq: &[Action], next: NodeIndex) -> NodeIndex {
        // A loop's start is in scope for the rest of its sequence too.
        let scope = self.loops.len();
        let starts: HashMap<usize, NodeIndex> = seq
            .iter()
            .filter_map(|a| match a {
                Action::Loop { id, body } => {
                    let span = first_span(body, self.sites);
                    Some((*id, self.node(Kind::Tau, span, None)))
                }
                _ => None,
            })
            .collect();
        for a in seq {
            if let Action::Loop { id, .. } = a {
                self.loops.push((*id, starts[id]));
            }
        }
        let mut cur = next;
        for a in seq.iter().rev() {
            cur = self.action(a, cur, &starts);
        }
        self.loops.truncate(scope);
        cur
    }

    fn action(
        &mut self,
        a: &Action,
        next: NodeIndex,
        starts: &HashMap<usize, NodeIndex>,
    ) -> NodeIndex {
        match a {
            Action::Send { to, label, msg } => {
                let w = self.wire(to, label, *msg);
                let id = match msg {
                    MsgRef::Stmt(id) => Some(*id),
                    _ => None,
                };
                let n = self.node(Kind::Send(w), self.sites.msg_span(*msg), id);
                self.graph.add_edge(n, next, Step::Next);
                n
            }
            Action::Recv { from, label, msg } => {
                let w = self.wire(from, label, *msg);
                let n = self.node(
                    Kind::Recv {
                        peer: w.peer.clone(),
                    },
                    self.sites.msg_span(*msg),
                    None,
                );
                let (id, span) = (stmt_id(*msg), self.sites.msg_span(*msg));
                self.graph.add_edge(n, next, Step::Alt(w, id, span));
                n
            }
            Action::Branch { from, alts } => {
                let span = alts
                    .first()
                    .map_or(self.sites.protocol.span, |a| self.sites.msg_span(a.msg));
                let n = self.node(
                    Kind::Recv {
                        peer: self.peer(from),
                    },
                    span,
                    None,
                );
                for alt in alts {
                    let w = self.wire(from, &alt.label, alt.msg);
                    let target = self.seq(&alt.body, next);
                    let span = self.sites.msg_span(alt.msg);
                    self.graph
                        .add_edge(n, target, Step::Alt(w, stmt_id(alt.msg), span));
                }
                n
            }
            Action::Select { decision, branches } => {
                let span = match decision {
                    Decision::Case(c) => self.sites.choices.get(*c).copied(),
                    Decision::Loop(l) => self.sites.loops.get(*l).copied(),
                }
                .unwrap_or(self.sites.protocol.span);
                let n = self.node(Kind::Tau, span, None);
                for (_, body) in branches {
                    let target = self.seq(body, next);
                    self.graph.add_edge(n, target, Step::Tau);
                }
                n
            }
            Action::Loop { id, body } => {
                let start = starts[id];
                let entry = self.seq(body, next);
                self.graph.add_edge(start, entry, Step::Tau);
                start
            }
            Action::Jump(id) => self
                .loops
                .iter()
                .rev()
                .find(|(l, _)| l == id)
                .map_or(self.diverge, |&(_, n)| n),
            Action::Repeat { count, body } => {
                // A symbolic count is bound at run time, like a family size:
                // its name is API (a `Params` field), not wire.
                let count = match count {
                    Count::Const(n) => n.to_string(),
                    Count::Param(_) => "a run-time number of".into(),
                };
                self.structured(Kind::Repeat(count), body, next, None)
            }
            Action::Foreach { family, var, body } => {
                let name = self.sites.protocol.roles[*family].name.clone();
                self.structured(Kind::Foreach(name), body, next, Some(var))
            }
        }
    }

    fn structured(
        &mut self,
        kind: Kind,
        body: &[Action],
        next: NodeIndex,
        var: Option<&String>,
    ) -> NodeIndex {
        let span = first_span(body, self.sites);
        let n = self.node(kind, span, None);
        let round_end = self.node(Kind::RoundEnd, span, None);
        if let Some(v) = var {
            self.vars.push(v.clone());
        }
        let entry = self.seq(body, round_end);
        if var.is_some() {
            self.vars.pop();
        }
        self.graph.add_edge(n, entry, Step::Body);
        self.graph.add_edge(n, next, Step::Next);
        n
    }
}

fn stmt_id(m: MsgRef) -> Option<usize> {
    match m {
        MsgRef::Stmt(id) => Some(id),
        _ => None,
    }
}

/// Where the first message of `seq` is written (the protocol name if none).
fn first_span(seq: &[Action], sites: &Sites<'_>) -> Span {
    for a in seq {
        let found = match a {
            Action::Send { msg, .. } | Action::Recv { msg, .. } => Some(sites.msg_span(*msg)),
            Action::Branch { alts, .. } => alts.first().map(|a| sites.msg_span(a.msg)),
            Action::Select { branches, .. } => branches
                .iter()
                .find(|(_, b)| !b.is_empty())
                .map(|(_, b)| first_span(b, sites)),
            Action::Loop { body, .. }
            | Action::Repeat { body, .. }
            | Action::Foreach { body, .. } => Some(first_span(body, sites)),
            Action::Jump(_) => None,
        };
        if let Some(s) = found {
            return s;
        }
    }
    sites.protocol.span
}
