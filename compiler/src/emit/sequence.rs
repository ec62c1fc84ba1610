//! The global protocol as the rows of a sequence diagram: messages between
//! lifelines (one per role, a family as one lifeline) in protocol order, and
//! the frames of choices, loops and per-member rounds; messages to or from
//! several members are marked as such.
//! Shared by the Graphviz and Mermaid emitters.

use crate::check::model::{
    FamilySize, LoopKind, Message, Participant, Payload, Protocol, Sel, Stmt,
};
use crate::project::{Projection, Recipient};

/// A lifeline: one role, or one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifeline {
    /// The role name (an identifier).
    pub name: String,
    /// What the head says: `Initiator`, `Guardian[N]`, `Participants[*]`.
    pub title: String,
}

/// What kind of frame a row opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A choice (`alt`).
    Choice,
    /// A loop of any kind, or a per-member round (`loop`).
    Loop,
}

/// Whether a message goes to, or comes from, several members of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fan {
    /// One sender, one receiver.
    One,
    /// To each member (`F[*]`, `F[a..b]`).
    Out,
    /// From each member.
    In,
    /// From each member of one family to each member of another.
    Both,
}

/// One row of the diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// A message from one lifeline to another (or the same, between members).
    Message {
        /// Sending lifeline (index into the lifelines).
        from: usize,
        /// Receiving lifeline.
        to: usize,
        /// `Label(Type)`.
        text: String,
        /// Compact marks (`to each of Guardian[*]`, `cap ...`, `cost N`), may be empty.
        marks: String,
        /// An added `Continue`/`Done` of a decided loop.
        control: bool,
        /// To or from several members.
        fan: Fan,
    },
    /// A frame opens, with its title (`Commit [Initiator chooses]`).
    Open(Frame, String),
    /// The next branch of the innermost choice.
    Else(String),
    /// The innermost frame closes.
    Close,
}

/// The lifelines of a protocol, in declaration order.
pub fn lifelines(protocol: &Protocol) -> Vec<Lifeline> {
    protocol
        .roles
        .iter()
        .map(|r| Lifeline {
            name: r.name.clone(),
            title: match &r.family {
                None => r.name.clone(),
                Some(FamilySize::Symbolic(n)) => format!("{}[{n}]", r.name),
                Some(FamilySize::Fixed(n)) => format!("{}[{n}]", r.name),
                Some(FamilySize::Dynamic) => format!("{}[*]", r.name),
            },
        })
        .collect()
}

/// The rows of a protocol's sequence diagram.
pub fn rows(protocol: &Protocol, projection: &Projection) -> Vec<Row> {
    let mut out = Vec::new();
    block(protocol, projection, &protocol.body, &mut out);
    out
}

fn block(protocol: &Protocol, projection: &Projection, stmts: &[Stmt], out: &mut Vec<Row>) {
    for s in stmts {
        match s {
            Stmt::Message(m) => out.push(message(protocol, m)),
            Stmt::Choice(c) => {
                let chooser = protocol.participant_name(&c.chooser);
                for (i, b) in c.branches.iter().enumerate() {
                    let title = format!("{} [{chooser} chooses]", b.label);
                    out.push(if i == 0 {
                        Row::Open(Frame::Choice, title)
                    } else {
                        Row::Else(title)
                    });
                    block(protocol, projection, &b.body, out);
                }
                if c.branches.is_empty() {
                    out.push(Row::Open(Frame::Choice, format!("[{chooser} chooses]")));
                }
                out.push(Row::Close);
            }
            Stmt::Loop(l) => {
                let plan = projection.loops.get(l.id).and_then(Option::as_ref);
                let title = match &l.kind {
                    LoopKind::Decide(d) => format!("decided by {}", protocol.participant_name(d)),
                    LoopKind::Repeat(crate::check::model::Count::Const(n)) => format!("repeat {n}"),
                    LoopKind::Repeat(crate::check::model::Count::Param(p)) => format!("repeat {p}"),
                    LoopKind::Forever => "forever".into(),
                };
                out.push(Row::Open(Frame::Loop, title));
                if let Some(plan) = plan {
                    for r in plan.recipients.iter().filter(|r| !r.fused) {
                        out.push(control(protocol, &plan.decider, r, "Continue"));
                    }
                }
                block(protocol, projection, &l.body, out);
                out.push(Row::Close);
                if let Some(plan) = plan {
                    for r in &plan.recipients {
                        out.push(control(protocol, &plan.decider, r, "Done"));
                    }
                }
            }
            Stmt::ForEach(e) => {
                let family = &protocol.roles[e.family].name;
                let title = if e.parallel {
                    format!("for {} in {family} (@parallel)", e.var)
                } else {
                    format!("for {} in {family}", e.var)
                };
                out.push(Row::Open(Frame::Loop, title));
                block(protocol, projection, &e.body, out);
                out.push(Row::Close);
            }
        }
    }
}

fn control(protocol: &Protocol, decider: &Participant, r: &Recipient, label: &str) -> Row {
    let (marks, fan) = who(protocol, decider, &r.peer, false);
    Row::Message {
        from: decider.role,
        to: r.peer.role,
        text: label.to_string(),
        marks,
        control: true,
        fan,
    }
}

/// Whether a side names several members.
fn plural(p: &Participant) -> bool {
    matches!(p.sel, Sel::All | Sel::Range(..))
}

/// The mark saying who sends to whom when a side is not a single role
/// (`to each of Guardian[*]`, `from each of W[0..2]`, `Initiator → Guardian[g]`;
/// `(@parallel)` when the members' messages may go in any order), and the fan.
fn who(protocol: &Protocol, from: &Participant, to: &Participant, parallel: bool) -> (String, Fan) {
    let name = |p: &Participant| protocol.participant_name(p);
    let each = |p: &Participant| format!("each of {}", name(p));
    let single = |p: &Participant| p.sel == Sel::Single;
    let (text, fan) = match (plural(from), plural(to)) {
        (true, true) => (format!("from {} to {}", each(from), each(to)), Fan::Both),
        (true, false) if single(to) => (format!("from {}", each(from)), Fan::In),
        (false, true) if single(from) => (format!("to {}", each(to)), Fan::Out),
        (true, false) => (format!("from {} to {}", each(from), name(to)), Fan::In),
        (false, true) => (format!("from {} to {}", name(from), each(to)), Fan::Out),
        (false, false) if single(from) && single(to) => (String::new(), Fan::One),
        (false, false) => (format!("{} → {}", name(from), name(to)), Fan::One),
    };
    if parallel && fan != Fan::One {
        (format!("{text} (@parallel)"), fan)
    } else {
        (text, fan)
    }
}

fn message(protocol: &Protocol, m: &Message) -> Row {
    let text = match &m.payload {
        Payload::Unit => m.label.clone(),
        Payload::Type(t) => format!("{}({})", m.label, t.rsplit("::").next().unwrap_or(t)),
        Payload::Fields(f) => {
            let fields: Vec<String> = f.iter().map(|(n, t)| format!("{n}: {t}")).collect();
            format!("{}({})", m.label, fields.join(", "))
        }
    };
    let mut marks = Vec::new();
    let (who, fan) = who(protocol, &m.from, &m.to, m.parallel);
    if !who.is_empty() {
        marks.push(who);
    }
    if let Some(a) = &m.from_annotations {
        if !a.guard_capability.is_empty() {
            marks.push(format!("cap {}", a.guard_capability.join(",")));
        }
        if let Some(c) = a.flow_cost {
            marks.push(format!("cost {c}"));
        }
    }
    Row::Message {
        from: m.from.role,
        to: m.to.role,
        text,
        marks: marks.join(" | "),
        control: false,
        fan,
    }
}
