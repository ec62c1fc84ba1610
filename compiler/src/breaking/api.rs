//! The Rust API that `choreoc build` generates for a protocol, as a set of
//! named items, so that two versions can be compared item by item: the roles,
//! the `Types` trait's associated types, the `Params` fields, the payload
//! structs, the choice enums and each role trait's methods with their
//! signatures. The items are read off the emitter's own plan
//! (`emit::rust::plan`), so they are exactly what the crate declares.

use crate::check::model::{Count, LoopKind, Payload, Protocol, Stmt};
use crate::check::rules::each_message;
use crate::diag::Span;
use crate::emit::rust::plan::plan;
use crate::project::Projection;
use std::collections::BTreeMap;

/// One item of the generated API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// What it is, as a user would write it (`fn Guardian::on_commit`).
    pub what: String,
    /// Its shape: a signature, the fields of a struct, the variants of an enum.
    pub shape: String,
    /// The protocol text it comes from.
    pub span: Span,
}

/// Every item of a protocol's generated API, by name.
pub type Surface = BTreeMap<String, Item>;

/// The generated API of `protocol`.
pub fn surface(protocol: &Protocol, projection: &Projection) -> Surface {
    let plan = plan(protocol, projection);
    let mut items = Surface::new();
    let mut add = |key: String, what: String, shape: String, span: Span| {
        items.entry(key).or_insert(Item { what, shape, span });
    };
    let mut messages = Vec::new();
    each_message(&protocol.body, &mut |m| messages.push(m.clone()));
    let msg_span = |id: usize| {
        messages
            .iter()
            .find(|m| m.id == id)
            .map_or(protocol.span, |m| m.span)
    };
    let roles = &plan.traits;
    add(
        "enum Role".into(),
        "enum `Role`".into(),
        roles.join(", "),
        protocol.span,
    );
    for t in &plan.types.user {
        let span = messages
            .iter()
            .find(|m| match &m.payload {
                Payload::Unit => false,
                Payload::Type(ty) => ty.contains(&t.path),
                Payload::Fields(f) => f.iter().any(|(_, ty)| ty.contains(&t.path)),
            })
            .map_or(protocol.span, |m| m.span);
        add(
            format!("type Types::{}", t.alias),
            format!("associated type `Types::{}`", t.alias),
            t.path.clone(),
            span,
        );
    }
    for s in &plan.structs {
        let shape: Vec<String> = s.fields.iter().map(|(f, t)| format!("{f}: {t}")).collect();
        let span = messages
            .iter()
            .find(|m| m.label == s.label)
            .map_or(protocol.span, |m| m.span);
        add(
            format!("struct msg::{}", s.name),
            format!("struct `msg::{}`", s.name),
            format!("{{ {} }}", shape.join(", ")),
            span,
        );
    }
    for (id, e) in &plan.enums {
        let variants: Vec<&str> = e.variants.iter().map(|(v, _)| v.as_str()).collect();
        add(
            format!("enum choice::{}", e.name),
            format!("enum `choice::{}`", e.name),
            variants.join(", "),
            decision_span(&protocol.body, Decision::Choice(*id)).unwrap_or(protocol.span),
        );
    }
    for p in &plan.params {
        let span = param_span(&protocol.body, p).unwrap_or(protocol.span);
        add(
            format!("field Params::{p}"),
            format!("field `Params::{p}`"),
            "u64".into(),
            span,
        );
    }
    for ((r, kind, key), name) in &plan.methods {
        let tr = &plan.traits[*r];
        let Some(m) = plan.roles[*r].methods.iter().find(|m| m.name == *name) else {
            continue;
        };
        let span = match *kind {
            "case" => decision_span(&protocol.body, Decision::Choice(*key)),
            "loop" => decision_span(&protocol.body, Decision::Loop(*key)),
            _ => Some(msg_span(*key)),
        };
        add(
            format!("fn {tr}::{name}"),
            format!("method `{tr}::{name}`"),
            m.signature.clone(),
            span.unwrap_or(protocol.span),
        );
    }
    items
}

/// A choice or a loop, by id.
#[derive(Clone, Copy)]
enum Decision {
    Choice(usize),
    Loop(usize),
}

/// Where the choice (or loop) with this id is written.
fn decision_span(stmts: &[Stmt], d: Decision) -> Option<Span> {
    stmts.iter().find_map(|s| match (s, d) {
        (Stmt::Message(_), _) => None,
        (Stmt::Choice(c), Decision::Choice(id)) if c.id == id => Some(c.span),
        (Stmt::Loop(l), Decision::Loop(id)) if l.id == id => Some(l.span),
        (Stmt::Choice(c), _) => c.branches.iter().find_map(|b| decision_span(&b.body, d)),
        (Stmt::Loop(l), _) => decision_span(&l.body, d),
        (Stmt::ForEach(e), _) => decision_span(&e.body, d),
    })
}

/// Where the `loop repeat` counting parameter `param` (as a field name) is written.
fn param_span(stmts: &[Stmt], param: &str) -> Option<Span> {
    use crate::emit::rust::names::{ident, snake_case};
    stmts.iter().find_map(|s| match s {
        Stmt::Message(_) => None,
        Stmt::Loop(l) => match &l.kind {
            LoopKind::Repeat(Count::Param(p)) if ident(&snake_case(p)) == param => Some(l.span),
            _ => param_span(&l.body, param),
        },
        Stmt::Choice(c) => c.branches.iter().find_map(|b| param_span(&b.body, param)),
        Stmt::ForEach(e) => param_span(&e.body, param),
    })
}
