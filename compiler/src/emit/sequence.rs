//! The global protocol as the rows of a sequence diagram: messages between
//! lifelines (one per role, a family as one lifeline) in protocol order, and
//! the frames of choices, loops, per-member rounds and `@parallel` sends.
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
    /// Sends that may run concurrently (`par`).
    Parallel,
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
        /// Compact annotation marks (`cap ...`, `cost N`, members), may be empty.
        marks: String,
        /// An added `Continue`/`Done` of a decided loop.
        control: bool,
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
            Stmt::Message(m) if m.parallel => {
                out.push(Row::Open(Frame::Parallel, "@parallel".into()));
                out.push(message(protocol, m));
                out.push(Row::Close);
            }
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
    Row::Message {
        from: decider.role,
        to: r.peer.role,
        text: label.to_string(),
        marks: members(protocol, decider, &r.peer),
        control: true,
    }
}

/// `Guardian[0] → Guardian[*]`-style note when a side names members.
fn members(protocol: &Protocol, from: &Participant, to: &Participant) -> String {
    let named = |p: &Participant| !matches!(p.sel, Sel::Single | Sel::All);
    if named(from) || named(to) {
        format!(
            "{} → {}",
            protocol.participant_name(from),
            protocol.participant_name(to)
        )
    } else {
        String::new()
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
    let who = members(protocol, &m.from, &m.to);
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
    }
}
