//! The Graphviz sequence diagram of a protocol: one lifeline per role, one
//! rank per message, and each frame (a choice and its branches, a loop, a
//! per-member round) a box around the messages inside it. Rendered from
//! `templates/diagrams/sequence.dot.askama`.
//!
//! A frame is a cluster holding the lifeline points of its rows. Every frame
//! spans all lifelines: Graphviz (2.43, as Debian ships it) fails with
//! "trouble in init_rank" on wide diagrams whose clusters hold only some of
//! the points of a rank.

use super::sequence::{self, Fan, Frame, Row};
use crate::check::model::Protocol;
use crate::project::Projection;
use askama::Template;

/// A DOT string literal's content: quotes and backslashes escaped, line
/// breaks as `\n` (centred lines).
pub(super) fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One rank of the diagram: a message, or the empty rank that holds a
/// frame's title (or keeps the next message's label clear of a frame).
struct DotRow {
    edge: Option<DotEdge>,
}

/// A message, drawn as one edge per pair of neighbouring lifelines on its
/// way: Graphviz bends an edge between points of one rank around the points
/// between them (and through its own label), a chain of short edges stays
/// straight. The label goes on the segment next to the sender, the arrow
/// head on the last one.
struct DotEdge {
    segments: Vec<Segment>,
    /// Extra edge attributes (the look of control messages and fans).
    style: &'static str,
}

struct Segment {
    from: usize,
    to: usize,
    /// The message's label, on the first segment only.
    label: String,
    last: bool,
}

/// The segments of a message from lifeline `from` to `to`.
fn segments(from: usize, to: usize, label: String) -> Vec<Segment> {
    let lanes: Vec<usize> = if from <= to {
        (from..=to).collect()
    } else {
        (to..=from).rev().collect()
    };
    if lanes.len() < 2 {
        // Between members of one family: a loop on its lifeline.
        return vec![Segment {
            from,
            to,
            label,
            last: true,
        }];
    }
    let n = lanes.len() - 1;
    lanes
        .windows(2)
        .enumerate()
        .map(|(i, w)| Segment {
            from: w[0],
            to: w[1],
            label: if i == 0 { label.clone() } else { String::new() },
            last: i + 1 == n,
        })
        .collect()
}

/// What the template writes, in order: frames opening and closing, and the
/// ranks whose lifeline points (`lane<L>_<row>`) each holds.
enum Item {
    Open {
        id: usize,
        label: String,
        dashed: bool,
    },
    Row(usize),
    Close,
}

#[derive(Template)]
#[template(path = "diagrams/sequence.dot.askama", escape = "none")]
struct SequenceDot<'a> {
    source: &'a str,
    protocol: &'a str,
    lifelines: Vec<String>,
    rows: Vec<DotRow>,
    items: Vec<Item>,
}

/// The Graphviz sequence diagram (`<Protocol>.dot`).
pub fn sequence_dot(protocol: &Protocol, projection: &Projection, source: &str) -> String {
    let lifelines: Vec<String> = sequence::lifelines(protocol)
        .into_iter()
        .map(|l| dot_text(&l.title))
        .collect();
    let (rows, items) = layout(sequence::rows(protocol, projection));
    let page = SequenceDot {
        source,
        protocol: &protocol.name,
        lifelines,
        rows,
        items,
    };
    page.render()
        .unwrap_or_else(|e| format!("// template error: {e}\n"))
}

/// Turns the rows into ranks, and the frames into boxes around them: a
/// choice is a box (`alt`) holding a dashed box per branch; each box starts
/// with an empty rank for its title.
fn layout(input: Vec<Row>) -> (Vec<DotRow>, Vec<Item>) {
    let mut rows = Vec::new();
    let mut items = Vec::new();
    let mut next_id = 0;
    // For each open frame: whether it is a choice (closing it closes two boxes).
    let mut open: Vec<bool> = Vec::new();
    let mut frame =
        |items: &mut Vec<Item>, rows: &mut Vec<DotRow>, label: String, dashed, title| {
            items.push(Item::Open {
                id: next_id,
                label: dot_text(&label),
                dashed,
            });
            next_id += 1;
            if title {
                items.push(Item::Row(rows.len()));
                rows.push(DotRow { edge: None });
            }
        };
    for (i, row) in input.iter().enumerate() {
        let empty = matches!(input.get(i + 1), Some(Row::Else(_) | Row::Close));
        let branch = |title: &str| {
            if empty {
                format!("{title}: nothing happens")
            } else {
                title.to_string()
            }
        };
        match row {
            Row::Message {
                from,
                to,
                text,
                marks,
                control,
                fan,
            } => {
                let label = if marks.is_empty() {
                    text.clone()
                } else {
                    format!("{text}\n[{marks}]")
                };
                let style = match (control, fan) {
                    (true, _) => ", style=dashed, color=gray40, fontcolor=gray40",
                    (false, Fan::One) => "",
                    // Two lines: one arrow standing for one message per member.
                    (false, _) => ", color=\"black:invis:black\"",
                };
                items.push(Item::Row(rows.len()));
                rows.push(DotRow {
                    edge: Some(DotEdge {
                        segments: segments(*from, *to, dot_text(&label)),
                        style,
                    }),
                });
            }
            Row::Open(Frame::Choice, title) => {
                open.push(true);
                frame(&mut items, &mut rows, "alt".into(), false, false);
                frame(&mut items, &mut rows, branch(title), true, true);
            }
            Row::Open(Frame::Loop, title) => {
                open.push(false);
                frame(&mut items, &mut rows, format!("loop {title}"), false, true);
            }
            Row::Else(title) => {
                items.push(Item::Close);
                frame(&mut items, &mut rows, branch(title), true, true);
            }
            Row::Close => {
                if open.pop() == Some(true) {
                    items.push(Item::Close);
                }
                items.push(Item::Close);
                // Room below the box, so that the next message's label
                // stays clear of it.
                if matches!(input.get(i + 1), Some(Row::Message { .. } | Row::Open(..))) {
                    items.push(Item::Row(rows.len()));
                    rows.push(DotRow { edge: None });
                }
            }
        }
    }
    (rows, items)
}
