//! Changes that keep the wire and the generated API: annotations and
//! attributes of a message, compared between the two versions of the same
//! message (paired by the subtyping walk). Each is reported with what it
//! changes at run time.

use crate::check::model::{Annotations, Message};

/// One compatible change: what changed, and what it means at run time.
pub struct Change {
    /// What changed.
    pub message: String,
    /// What it means at run time.
    pub help: String,
}

/// The compatible changes from `old` to `new` (two versions of one message).
pub fn changes(new: &Message, old: &Message) -> Vec<Change> {
    let mut out = Vec::new();
    let label = &new.label;
    let none = Annotations::default();
    let (ns, os) = (
        new.from_annotations.as_deref().unwrap_or(&none),
        old.from_annotations.as_deref().unwrap_or(&none),
    );
    sender(label, ns, os, &mut out);
    let (nr, or) = (
        new.to_annotations.as_deref().unwrap_or(&none),
        old.to_annotations.as_deref().unwrap_or(&none),
    );
    if nr != or {
        out.push(Change {
            message: format!("the receiver-side annotations of `{label}` change"),
            help: "receiver-side annotations are passed on to the generated code; the wire is unchanged".into(),
        });
    }
    if new.parallel != old.parallel {
        out.push(Change {
            message: format!(
                "`{label}` is {} `@parallel`",
                if new.parallel { "now" } else { "no longer" }
            ),
            help: "the per-member sends may interleave (or not) across members; each peer sees its own messages in the same order".into(),
        });
    }
    let attrs = |m: &Message| -> Vec<String> {
        m.attrs
            .iter()
            .filter(|a| a.name != "parallel")
            .map(|a| format!("@{}({})", a.name, a.args.join(", ")))
            .collect()
    };
    if attrs(new) != attrs(old) {
        out.push(Change {
            message: format!(
                "the attributes of `{label}` change from [{}] to [{}]",
                attrs(old).join(" "),
                attrs(new).join(" ")
            ),
            help: "unknown attributes are passed on uninterpreted; the wire is unchanged".into(),
        });
    }
    out
}

fn show<T: std::fmt::Debug>(v: &Option<T>) -> String {
    v.as_ref().map_or("none".into(), |v| format!("{v:?}"))
}

fn sender(label: &str, n: &Annotations, o: &Annotations, out: &mut Vec<Change>) {
    let mut push = |key: &str, old: String, new: String, help: String| {
        out.push(Change {
            message: format!("`{key}` of the sender of `{label}` changes from {old} to {new}"),
            help,
        });
    };
    let added: Vec<&String> = n
        .guard_capability
        .iter()
        .filter(|c| !o.guard_capability.contains(c))
        .collect();
    let removed: Vec<&String> = o
        .guard_capability
        .iter()
        .filter(|c| !n.guard_capability.contains(c))
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        let help = if added.is_empty() {
            "looser: the sender needs fewer capabilities; the wire is unchanged"
        } else {
            "stricter: a sender without the added capabilities is refused before anything is sent; the wire is unchanged"
        };
        push(
            "guard_capability",
            format!("{:?}", o.guard_capability),
            format!("{:?}", n.guard_capability),
            help.into(),
        );
    }
    if n.flow_cost != o.flow_cost {
        let tighter = n.flow_cost.unwrap_or(0) > o.flow_cost.unwrap_or(0);
        push(
            "flow_cost",
            show(&o.flow_cost),
            show(&n.flow_cost),
            if tighter {
                "tighter: each send is charged more against the sender's flow budget, so the same budget allows fewer sends; the wire is unchanged"
            } else {
                "looser: each send is charged less against the sender's flow budget; the wire is unchanged"
            }
            .into(),
        );
    }
    if n.leakage_budget != o.leakage_budget {
        let old = o.leakage_budget.unwrap_or([u64::MAX; 3]);
        let new = n.leakage_budget.unwrap_or([u64::MAX; 3]);
        let tighter = new.iter().zip(&old).any(|(a, b)| a < b);
        push(
            "leakage_budget",
            show(&o.leakage_budget),
            show(&n.leakage_budget),
            if tighter {
                "tighter: the send is refused sooner when its leakage would exceed the budget; the wire is unchanged"
            } else {
                "looser: the send may leak more before it is refused; the wire is unchanged"
            }
            .into(),
        );
    }
    for (key, a, b) in [
        ("journal_facts", &n.journal_facts, &o.journal_facts),
        ("audit_log", &n.audit_log, &o.audit_log),
        ("leak", &n.leak, &o.leak),
    ] {
        if a != b {
            push(
                key,
                show(b),
                show(a),
                "what the sender records when it sends changes; the wire is unchanged".into(),
            );
        }
    }
    if n.journal_merge != o.journal_merge {
        push(
            "journal_merge",
            show(&o.journal_merge),
            show(&n.journal_merge),
            "the frame header carries the sender's journal or not; receivers of either version decode both".into(),
        );
    }
    if n.other != o.other {
        push(
            "unknown annotations",
            format!("{:?}", o.other),
            format!("{:?}", n.other),
            "unknown annotations are passed on uninterpreted; the wire is unchanged".into(),
        );
    }
}
