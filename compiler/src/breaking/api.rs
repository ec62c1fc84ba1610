//! The Rust API that `choreoc build` generates for a protocol, as a set of
//! named items, so that two versions can be compared item by item: the roles,
//! the `Types` trait's associated types, the `Params` fields, the payload
//! structs, the choice enums and each role trait's methods with their
//! signatures.
//!
//! The items follow the naming rules of `emit::rust::plan` (whose data is
//! private to the emitter), with the emitter's public `names` and `types`
//! helpers; `compiler/tests/breaking.rs` checks that every item named here is
//! declared in the crate the emitter renders, so the two cannot drift apart
//! unnoticed.

use crate::check::model::{Count, LoopKind, Participant, Payload, Protocol, Stmt};
use crate::check::rules::each_message;
use crate::diag::Span;
use crate::emit::rust::names::{ident, snake_case, upper_camel};
use crate::emit::rust::types::TypeMap;
use crate::project::local::{Action, Decision, MsgRef};
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
    let mut s = Builder {
        protocol,
        items: Surface::new(),
        types: TypeMap::default(),
        structs: Vec::new(),
        payload: vec![String::from("()"); protocol.messages],
        spans: vec![protocol.span; protocol.messages],
        enums: BTreeMap::new(),
        methods: Vec::new(),
    };
    let roles: Vec<String> = protocol
        .roles
        .iter()
        .map(|r| upper_camel(&r.name))
        .collect();
    s.add(
        "enum Role".into(),
        "enum `Role`".into(),
        roles.join(", "),
        protocol.span,
    );
    s.payloads();
    s.decisions(&protocol.body);
    for (r, role) in protocol.roles.iter().enumerate() {
        s.methods.clear();
        for local in projection.locals.iter().filter(|l| l.target.role() == r) {
            s.role_methods(&local.body, &upper_camel(&role.name));
        }
    }
    let user = s.types.user.clone();
    for t in user {
        let span = s.type_span(&t.path);
        s.add(
            format!("type Types::{}", t.alias),
            format!("associated type `Types::{}`", t.alias),
            t.path.clone(),
            span,
        );
    }
    s.items
}

/// `(field, rust type)` of a payload struct.
type Fields = Vec<(String, String)>;

struct Builder<'a> {
    protocol: &'a Protocol,
    items: Surface,
    types: TypeMap,
    /// (name, label, fields) of each payload struct.
    structs: Vec<(String, String, Fields)>,
    /// The Rust payload type of each message.
    payload: Vec<String>,
    /// Where each message is written.
    spans: Vec<Span>,
    /// Choice enum names, by choice id.
    enums: BTreeMap<usize, String>,
    /// The methods of the role being collected: (name, signature).
    methods: Vec<(String, String)>,
}

impl Builder<'_> {
    fn add(&mut self, key: String, what: String, shape: String, span: Span) {
        self.items.entry(key).or_insert(Item { what, shape, span });
    }

    fn type_span(&self, path: &str) -> Span {
        let mut span = None;
        each_message(&self.protocol.body, &mut |m| {
            let uses = match &m.payload {
                Payload::Unit => false,
                Payload::Type(t) => t.contains(path),
                Payload::Fields(f) => f.iter().any(|(_, t)| t.contains(path)),
            };
            if uses && span.is_none() {
                span = Some(m.span);
            }
        });
        span.unwrap_or(self.protocol.span)
    }

    fn payloads(&mut self) {
        let mut found = Vec::new();
        each_message(&self.protocol.body, &mut |m| found.push(m.clone()));
        for m in found {
            self.spans[m.id] = m.span;
            self.payload[m.id] = match &m.payload {
                Payload::Unit => "()".into(),
                Payload::Type(t) => self.types.rewrite(t).0,
                Payload::Fields(fields) => {
                    let mut generic = false;
                    let fields: Vec<(String, String)> = fields
                        .iter()
                        .map(|(n, t)| {
                            let (ty, user) = self.types.rewrite(t);
                            generic |= user;
                            (ident(&snake_case(n)), ty)
                        })
                        .collect();
                    let existing = self
                        .structs
                        .iter()
                        .find(|(_, l, f)| *l == m.label && *f == fields);
                    let name = match existing {
                        Some((name, _, _)) => name.clone(),
                        None => {
                            let base = upper_camel(&m.label);
                            let mut name = base.clone();
                            let mut n = 2;
                            while self.structs.iter().any(|(s, _, _)| *s == name) {
                                name = format!("{base}{n}");
                                n += 1;
                            }
                            let shape: Vec<String> =
                                fields.iter().map(|(f, t)| format!("{f}: {t}")).collect();
                            self.add(
                                format!("struct msg::{name}"),
                                format!("struct `msg::{name}`"),
                                format!("{{ {} }}", shape.join(", ")),
                                m.span,
                            );
                            self.structs.push((name.clone(), m.label.clone(), fields));
                            name
                        }
                    };
                    if generic {
                        format!("msg::{name}<T>")
                    } else {
                        format!("msg::{name}")
                    }
                }
            };
        }
    }

    fn decisions(&mut self, stmts: &[Stmt]) {
        for st in stmts {
            match st {
                Stmt::Message(_) => {}
                Stmt::Choice(c) => {
                    let mut labels: Vec<&str> =
                        c.branches.iter().map(|b| b.label.as_str()).collect();
                    labels.sort_unstable();
                    let mut variants: Vec<String> = Vec::new();
                    for l in &labels {
                        let mut v = upper_camel(l);
                        if variants.contains(&v) {
                            v = format!("{v}{}", variants.len() + 1);
                        }
                        variants.push(v);
                    }
                    let base = variants.join("Or");
                    let mut name = base.clone();
                    if self.enums.values().any(|e| *e == name) {
                        name = format!("{base}{}", c.id + 1);
                    }
                    self.add(
                        format!("enum choice::{name}"),
                        format!("enum `choice::{name}`"),
                        variants.join(", "),
                        c.span,
                    );
                    self.enums.insert(c.id, name);
                    c.branches.iter().for_each(|b| self.decisions(&b.body));
                }
                Stmt::Loop(l) => {
                    if let LoopKind::Repeat(Count::Param(p)) = &l.kind {
                        let p = ident(&snake_case(p));
                        self.add(
                            format!("field Params::{p}"),
                            format!("field `Params::{p}`"),
                            "u64".into(),
                            l.span,
                        );
                    }
                    self.decisions(&l.body);
                }
                Stmt::ForEach(e) => self.decisions(&e.body),
            }
        }
    }

    fn msg_span(&self, id: usize) -> Span {
        self.spans.get(id).copied().unwrap_or(self.protocol.span)
    }

    /// Where the choice (or loop) with this id is written.
    fn decision_span(&self, d: Decision, stmts: &[Stmt]) -> Option<Span> {
        stmts.iter().find_map(|s| match (s, d) {
            (Stmt::Message(_), _) => None,
            (Stmt::Choice(c), Decision::Case(id)) if c.id == id => Some(c.span),
            (Stmt::Loop(l), Decision::Loop(id)) if l.id == id => Some(l.span),
            (Stmt::Choice(c), _) => c
                .branches
                .iter()
                .find_map(|b| self.decision_span(d, &b.body)),
            (Stmt::Loop(l), _) => self.decision_span(d, &l.body),
            (Stmt::ForEach(e), _) => self.decision_span(d, &e.body),
        })
    }

    /// Registers a method of trait `tr`; the same name with another
    /// signature gets a numbered name, as the emitter does.
    fn method(&mut self, tr: &str, name: String, sig: String, span: Span) {
        let name = ident(&name);
        let mut chosen = name.clone();
        let mut n = 2;
        loop {
            match self.methods.iter().find(|(m, _)| *m == chosen) {
                Some((_, s)) if *s == sig => return,
                Some(_) => {
                    chosen = format!("{name}_{n}");
                    n += 1;
                }
                None => break,
            }
        }
        self.methods.push((chosen.clone(), sig.clone()));
        self.add(
            format!("fn {tr}::{chosen}"),
            format!("method `{tr}::{chosen}`"),
            sig,
            span,
        );
    }

    fn role_methods(&mut self, seq: &[Action], tr: &str) {
        for a in seq {
            match a {
                Action::Send {
                    label,
                    msg: MsgRef::Stmt(id),
                    ..
                } => {
                    let ty = self.payload[*id].clone();
                    let sig = if ty == "()" {
                        "(&mut self, to: &rt::Peer)".to_string()
                    } else {
                        format!("(&mut self, to: &rt::Peer) -> {ty}")
                    };
                    let span = self.msg_span(*id);
                    self.method(tr, snake_case(label), sig, span);
                }
                Action::Recv {
                    from,
                    label,
                    msg: MsgRef::Stmt(id),
                } => self.receive(tr, from, label, *id),
                Action::Branch { from, alts } => {
                    for alt in alts {
                        if let MsgRef::Stmt(id) = alt.msg {
                            self.receive(tr, from, &alt.label, id);
                        }
                        self.role_methods(&alt.body, tr);
                    }
                }
                Action::Select { decision, branches } => {
                    let span = self
                        .decision_span(*decision, &self.protocol.body)
                        .unwrap_or(self.protocol.span);
                    match decision {
                        Decision::Case(c) => {
                            let e = self.enums.get(c).cloned().unwrap_or_default();
                            self.method(
                                tr,
                                format!("choose_{}", snake_case(&e)),
                                format!("(&mut self) -> choice::{e}"),
                                span,
                            );
                        }
                        Decision::Loop(l) => self.method(
                            tr,
                            format!("another_round_{}", l + 1),
                            "(&mut self, rounds_done: u32) -> bool".into(),
                            span,
                        ),
                    }
                    for (_, body) in branches {
                        self.role_methods(body, tr);
                    }
                }
                Action::Loop { body, .. }
                | Action::Repeat { body, .. }
                | Action::Foreach { body, .. } => self.role_methods(body, tr),
                Action::Send { .. } | Action::Recv { .. } | Action::Jump(_) => {}
            }
        }
    }

    fn receive(&mut self, tr: &str, _from: &Participant, label: &str, id: usize) {
        let ty = self.payload[id].clone();
        let sig = if ty == "()" {
            "(&mut self, from: &rt::Peer)".to_string()
        } else {
            format!("(&mut self, from: &rt::Peer, msg: {ty})")
        };
        let span = self.msg_span(id);
        self.method(tr, format!("on_{}", snake_case(label)), sig, span);
    }
}
