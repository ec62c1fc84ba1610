//! Diagrams of a protocol: a Graphviz and a Mermaid sequence diagram of the
//! global protocol, and one Graphviz state machine per local type. Rendered
//! from the askama templates in `templates/diagrams/`.

use super::sequence::{self, Frame, Row};
use crate::check::model::Protocol;
use crate::project::local::{Action, Seq};
use crate::project::{LocalType, Projection};
use askama::Template;

/// Every diagram of a protocol as `(file name, content)`: `<Protocol>.dot`,
/// `<Protocol>.mmd`, and `<Protocol>.<Role>.dot` per local type (a singled-out
/// member `Guardian[0]` as `<Protocol>.Guardian-0.dot`).
pub fn files(protocol: &Protocol, projection: &Projection, source: &str) -> Vec<(String, String)> {
    let name = &protocol.name;
    let mut out = vec![
        (
            format!("{name}.dot"),
            sequence_dot(protocol, projection, source),
        ),
        (
            format!("{name}.mmd"),
            sequence_mermaid(protocol, projection, source),
        ),
    ];
    for l in &projection.locals {
        out.push((fsm_file_name(protocol, l), fsm_dot(protocol, l, source)));
    }
    out
}

/// The file name of a local type's state machine: `<Protocol>.<Role>.dot`,
/// a singled-out member `Guardian[0]` as `<Protocol>.Guardian-0.dot`.
pub fn fsm_file_name(protocol: &Protocol, local: &LocalType) -> String {
    let role = local.name.replace('[', "-").replace(']', "");
    format!("{}.{role}.dot", protocol.name)
}

use super::sequence_dot::dot_text;
pub use super::sequence_dot::sequence_dot;

#[derive(Template)]
#[template(path = "diagrams/sequence.mmd.askama", escape = "none")]
struct SequenceMmd<'a> {
    source: &'a str,
    protocol: &'a str,
    lifelines: Vec<(String, String)>,
    lines: Vec<String>,
}

/// Mermaid message text: `;`, `#`, `<` and `>` as entity codes.
fn mermaid_text(s: &str) -> String {
    s.replace('#', "#35;")
        .replace(';', "#59;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// The Mermaid sequence diagram (`<Protocol>.mmd`).
pub fn sequence_mermaid(protocol: &Protocol, projection: &Projection, source: &str) -> String {
    let lifelines = sequence::lifelines(protocol);
    let rows = sequence::rows(protocol, projection);
    let mut lines = Vec::new();
    let mut depth = 1usize;
    // Participants are named `r0`, `r1`, ... by position, never by the
    // role's name, which may be a Mermaid keyword (`Participant`, `end`,
    // `loop`, `alt`, `note`, ...); the role's name is the alias shown.
    let id = |lane: usize| format!("r{lane}");
    let first = id(0);
    for (i, row) in rows.iter().enumerate() {
        let pad = "    ".repeat(depth - 1);
        // A section with nothing in it gets a note, as Mermaid wants content.
        let empty_after = matches!(rows.get(i + 1), Some(Row::Else(_) | Row::Close));
        match row {
            Row::Message {
                from,
                to,
                text,
                marks,
                control,
                ..
            } => {
                let arrow = if *control { "-->>" } else { "->>" };
                let label = if marks.is_empty() {
                    text.clone()
                } else {
                    format!("{text} [{marks}]")
                };
                lines.push(format!(
                    "{pad}{}{arrow}{}: {}",
                    id(*from),
                    id(*to),
                    mermaid_text(&label)
                ));
            }
            Row::Open(kind, title) => {
                let tag = match kind {
                    Frame::Choice => "alt",
                    Frame::Loop => "loop",
                };
                lines.push(format!("{pad}{tag} {}", mermaid_text(title)));
                depth += 1;
                if empty_after {
                    lines.push(format!("{pad}    Note over {first}: nothing happens"));
                }
            }
            Row::Else(title) => {
                lines.push(format!(
                    "{}else {}",
                    "    ".repeat(depth - 2),
                    mermaid_text(title)
                ));
                if empty_after {
                    lines.push(format!("{pad}Note over {first}: nothing happens"));
                }
            }
            Row::Close => {
                depth -= 1;
                lines.push(format!("{}end", "    ".repeat(depth - 1)));
            }
        }
    }
    let page = SequenceMmd {
        source,
        protocol: &protocol.name,
        lifelines: lifelines
            .into_iter()
            .enumerate()
            .map(|(i, l)| (id(i), mermaid_text(&l.title)))
            .collect(),
        lines,
    };
    page.render()
        .unwrap_or_else(|e| format!("%% template error: {e}\n"))
}

struct FsmEdge {
    from: usize,
    to: usize,
    label: String,
    dashed: bool,
}

#[derive(Template)]
#[template(path = "diagrams/fsm.dot.askama", escape = "none")]
struct FsmDot<'a> {
    source: &'a str,
    title: String,
    states: usize,
    end: usize,
    edges: Vec<FsmEdge>,
    _p: std::marker::PhantomData<&'a ()>,
}

/// The state machine of one local type (`<Protocol>.<Role>.dot`): a state
/// per point between actions, a transition per send (`!B.M`) or receive
/// (`?B.M`), branches for choices, dashed edges back to the start of a loop.
pub fn fsm_dot(protocol: &Protocol, local: &LocalType, source: &str) -> String {
    let mut b = Fsm {
        protocol,
        states: 1,
        edges: Vec::new(),
        loops: Vec::new(),
    };
    // A role that never ends (a `loop forever`) has no end state.
    let end = b.seq(&local.body, 0).unwrap_or(usize::MAX);
    let page = FsmDot {
        source,
        title: dot_text(&format!("{} as {}", protocol.name, local.name)),
        states: b.states,
        end,
        edges: b.edges,
        _p: std::marker::PhantomData,
    };
    page.render()
        .unwrap_or_else(|e| format!("// template error: {e}\n"))
}

struct Fsm<'a> {
    protocol: &'a Protocol,
    states: usize,
    edges: Vec<FsmEdge>,
    /// Loop ids with their head state, innermost last.
    loops: Vec<(usize, usize)>,
}

impl Fsm<'_> {
    fn state(&mut self) -> usize {
        self.states += 1;
        self.states - 1
    }

    fn edge(&mut self, from: usize, to: usize, label: String, dashed: bool) {
        self.edges.push(FsmEdge {
            from,
            to,
            label: dot_text(&label),
            dashed,
        });
    }

    /// Walks `seq` from state `at`; returns the state it ends in (`None`
    /// when it always jumps back to a loop's start).
    fn seq(&mut self, seq: &Seq, at: usize) -> Option<usize> {
        let name = |p| self.protocol.participant_name(p);
        let mut at = at;
        for a in seq {
            at = match a {
                Action::Send { to, label, .. } => {
                    let next = self.state();
                    let text = format!("!{}.{label}", name(to));
                    self.edge(at, next, text, false);
                    next
                }
                Action::Recv { from, label, .. } => {
                    let next = self.state();
                    let text = format!("?{}.{label}", name(from));
                    self.edge(at, next, text, false);
                    next
                }
                Action::Select { branches, .. } => {
                    let arms: Vec<(String, &Seq)> =
                        branches.iter().map(|(l, b)| (format!("+{l}"), b)).collect();
                    self.join(at, arms)?
                }
                Action::Branch { from, alts } => {
                    let arms: Vec<(String, &Seq)> = alts
                        .iter()
                        .map(|a| (format!("?{}.{}", name(from), a.label), &a.body))
                        .collect();
                    self.join(at, arms)?
                }
                Action::Loop { id, body } => {
                    self.loops.push((*id, at));
                    let end = self.seq(body, at);
                    self.loops.pop();
                    end?
                }
                Action::Jump(id) => {
                    let head = self
                        .loops
                        .iter()
                        .rev()
                        .find(|(l, _)| l == id)
                        .map_or(0, |(_, h)| *h);
                    self.edge(at, head, "next round".into(), true);
                    return None;
                }
                Action::Repeat { count, body } => {
                    let n = match count {
                        crate::check::model::Count::Const(n) => n.to_string(),
                        crate::check::model::Count::Param(p) => p.clone(),
                    };
                    let end = self.seq(body, at)?;
                    self.edge(end, at, format!("again: repeat {n}"), true);
                    end
                }
                Action::Foreach { family, body, .. } => {
                    let end = self.seq(body, at)?;
                    let fam = &self.protocol.roles[*family].name;
                    self.edge(end, at, format!("next member of {fam}"), true);
                    end
                }
            };
        }
        Some(at)
    }

    /// Branches from `at` into `arms`; the arms that end meet in one state.
    fn join(&mut self, at: usize, arms: Vec<(String, &Seq)>) -> Option<usize> {
        let mut ends = Vec::new();
        for (label, body) in arms {
            let start = self.state();
            self.edge(at, start, label, false);
            ends.extend(self.seq(body, start));
        }
        match ends.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                let join = self.state();
                for e in ends {
                    self.edge(e, join, String::new(), true);
                }
                Some(join)
            }
        }
    }
}
