//! What a generated crate declares: payload types, choice enums, symbolic
//! parameters and, per role, the trait its user code implements (one method
//! per message it sends with a payload, per message it receives, per choice
//! it makes, per loop it decides).

use super::names::{escape, ident, snake_case, upper_camel, PRELUDE};
use super::types::TypeMap;
use crate::check::model::{Count, LoopKind, Payload, Protocol, Stmt};
use crate::check::rules::each_message;
use crate::project::local::{Action, Decision, MsgRef};
use crate::project::Projection;
use std::collections::BTreeMap;

/// A message struct for a `Label(field: Type, ...)` payload.
#[derive(Clone, Debug)]
pub struct StructDef {
    /// The struct's name in module `msg`.
    pub name: String,
    /// Whether it is generic over `T: Types` (a field names a user type).
    pub generic: bool,
    /// `(field, rust type)`.
    pub fields: Vec<(String, String)>,
    /// The label it carries.
    pub label: String,
}

/// The branches of one `case`, as an enum in module `choice`.
#[derive(Clone, Debug)]
pub struct ChoiceEnum {
    /// The enum's name.
    pub name: String,
    /// `(variant, branch label)`, sorted by label.
    pub variants: Vec<(String, String)>,
    /// Who chooses, for the docs.
    pub chooser: String,
}

/// One method of a role trait.
#[derive(Clone, Debug)]
pub struct Method {
    /// The method's name.
    pub name: String,
    /// Its signature, as an identity: `(name: type, ...) -> type`, with the
    /// protocol's user types written `T::Alias` and generic payloads `msg::X<T>`.
    pub signature: String,
    /// Its parameters after `&mut self`: `(name, type)`, types as in `signature`.
    pub params: Vec<(String, String)>,
    /// What its future yields (inside the `Result`), as in `signature`.
    pub ret: String,
    /// Its doc comment.
    pub doc: String,
    /// `send`, `recv`, `case` or `loop`.
    pub kind: &'static str,
    /// The message label (`send`, `recv`) or choice enum (`case`).
    pub subject: String,
}

/// The trait of one role.
#[derive(Clone, Debug)]
pub struct RoleIface {
    /// Methods, in order of first use.
    pub methods: Vec<Method>,
}

/// Everything a crate declares, and the lookups runners need.
#[derive(Clone, Debug)]
pub struct Plan {
    /// User types bound through `Types`.
    pub types: TypeMap,
    /// Message structs.
    pub structs: Vec<StructDef>,
    /// Choice enums, by choice id.
    pub enums: BTreeMap<usize, ChoiceEnum>,
    /// Symbolic `loop repeat` counts.
    pub params: Vec<String>,
    /// One trait per role, in declaration order.
    pub roles: Vec<RoleIface>,
    /// The Rust payload type of each message, by message id.
    pub payload: Vec<String>,
    /// Method names: (role, kind, key) → name, where kind is `send`, `recv`,
    /// `case`, `loop` or `member` and key the message, choice or loop id
    /// (0 for `member`).
    pub methods: BTreeMap<(usize, &'static str, usize), String>,
    /// The trait name of each role (see [`super::names::role_traits`]).
    pub traits: Vec<String>,
    /// The base name of each decided loop's method, by loop id.
    pub loop_names: BTreeMap<usize, LoopName>,
    /// The generic parameters of the runners.
    pub generics: super::names::Generics,
}

/// How the decision method of a `loop decide by` is named: after the first
/// label of its body, numbered when several decided loops start with it.
#[derive(Clone, Debug)]
pub struct LoopName {
    /// `another_ping_round`, `another_ping_round_2`.
    pub method: String,
    /// The first label of the loop's body.
    pub first: String,
}

/// Builds the plan of a protocol's crate.
pub fn plan(protocol: &Protocol, projection: &Projection) -> Plan {
    let mut types = TypeMap::default();
    let mut structs: Vec<StructDef> = Vec::new();
    let mut payload = vec![String::from("()"); protocol.messages];
    each_message(&protocol.body, &mut |m| {
        payload[m.id] = match &m.payload {
            Payload::Unit => "()".into(),
            Payload::Type(t) => types.rewrite(t).0,
            Payload::Fields(fields) => {
                let mut generic = false;
                let fields: Vec<(String, String)> = fields
                    .iter()
                    .map(|(n, t)| {
                        let (ty, user) = types.rewrite(t);
                        generic |= user;
                        (ident(&snake_case(n)), ty)
                    })
                    .collect();
                let base = escape(&upper_camel(&m.label), "Msg", &[PRELUDE, &["Types", "T"]]);
                let existing = structs
                    .iter()
                    .find(|s| s.label == m.label && s.fields == fields);
                let name = match existing {
                    Some(s) => s.name.clone(),
                    None => {
                        let mut name = base.clone();
                        let mut n = 2;
                        while structs.iter().any(|s| s.name == name) {
                            name = format!("{base}{n}");
                            n += 1;
                        }
                        structs.push(StructDef {
                            name: name.clone(),
                            generic,
                            fields,
                            label: m.label.clone(),
                        });
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
    });
    let mut enums = BTreeMap::new();
    let mut params = Vec::new();
    let mut loops = Vec::new();
    collect_decisions(
        protocol,
        &protocol.body,
        &mut enums,
        &mut params,
        &mut loops,
    );
    let traits = super::names::role_traits(protocol);
    let mut plan = Plan {
        types,
        structs,
        enums,
        params,
        roles: Vec::new(),
        payload,
        methods: BTreeMap::new(),
        generics: super::names::Generics::new(&traits),
        traits,
        loop_names: loop_names(&loops),
    };
    for (r, role) in protocol.roles.iter().enumerate() {
        let mut iface = RoleIface {
            methods: Vec::new(),
        };
        for local in projection.locals.iter().filter(|l| l.target.role() == r) {
            plan.collect_methods(protocol, r, &local.body, &mut iface);
        }
        if role.family.is_some() {
            plan.member_method(protocol, r, &mut iface);
        }
        plan.roles.push(iface);
    }
    plan
}

/// The method name of each decided loop, from `(loop id, first label of its
/// body)` in source order: `another_<label>_round`, with `_2`, `_3`, ... for
/// the later loops that start with the same label. So a loop's name does not
/// change when loops that start otherwise are added or removed.
fn loop_names(loops: &[(usize, String)]) -> BTreeMap<usize, LoopName> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    loops
        .iter()
        .map(|(id, first)| {
            let n = seen.entry(first.as_str()).or_insert(0);
            *n += 1;
            let base = format!("another_{}_round", snake_case(first));
            let method = if *n == 1 { base } else { format!("{base}_{n}") };
            let first = first.clone();
            (*id, LoopName { method, first })
        })
        .collect()
}

fn collect_decisions(
    protocol: &Protocol,
    stmts: &[Stmt],
    enums: &mut BTreeMap<usize, ChoiceEnum>,
    params: &mut Vec<String>,
    loops: &mut Vec<(usize, String)>,
) {
    for s in stmts {
        match s {
            Stmt::Message(_) => {}
            Stmt::Choice(c) => {
                let mut labels: Vec<&str> = c.branches.iter().map(|b| b.label.as_str()).collect();
                labels.sort_unstable();
                let mut variants: Vec<(String, String)> = Vec::new();
                for l in &labels {
                    let mut v = escape(&upper_camel(l), "Branch", &[]);
                    if variants.iter().any(|(x, _)| *x == v) {
                        v = format!("{v}{}", variants.len() + 1);
                    }
                    variants.push((v, l.to_string()));
                }
                let joined: String = labels
                    .iter()
                    .map(|l| upper_camel(l))
                    .collect::<Vec<_>>()
                    .join("Or");
                let base = escape(&joined, "Choice", &[]);
                let mut name = base.clone();
                if enums.values().any(|e: &ChoiceEnum| e.name == name) {
                    name = format!("{base}{}", c.id + 1);
                }
                let chooser = protocol.participant_name(&c.chooser);
                enums.insert(
                    c.id,
                    ChoiceEnum {
                        name,
                        variants,
                        chooser,
                    },
                );
                c.branches
                    .iter()
                    .for_each(|b| collect_decisions(protocol, &b.body, enums, params, loops));
            }
            Stmt::Loop(l) => {
                match &l.kind {
                    LoopKind::Repeat(Count::Param(p)) => {
                        let p = ident(&snake_case(p));
                        if !params.contains(&p) {
                            params.push(p);
                        }
                    }
                    LoopKind::Decide(_) => {
                        let mut first: Option<(usize, String)> = None;
                        each_message(&l.body, &mut |m| {
                            if first.as_ref().is_none_or(|(id, _)| m.id < *id) {
                                first = Some((m.id, m.label.clone()));
                            }
                        });
                        let label = first.map_or_else(|| "loop".to_string(), |(_, l)| l);
                        loops.push((l.id, label));
                    }
                    _ => {}
                }
                collect_decisions(protocol, &l.body, enums, params, loops);
            }
            Stmt::ForEach(e) => collect_decisions(protocol, &e.body, enums, params, loops),
        }
    }
}

/// A method's parameters and result while it is being planned.
struct Sig {
    params: Vec<(String, String)>,
    ret: String,
}

impl Sig {
    fn new(params: &[(&str, &str)], ret: &str) -> Sig {
        Sig {
            params: params
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            ret: ret.to_string(),
        }
    }

    /// `(to: rt::Peer) -> T::Share`: what makes two methods the same.
    fn identity(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect();
        format!("({}) -> {}", params.join(", "), self.ret)
    }
}

impl Plan {
    fn collect_methods(
        &mut self,
        protocol: &Protocol,
        r: usize,
        seq: &[Action],
        iface: &mut RoleIface,
    ) {
        for a in seq {
            match a {
                Action::Send {
                    to,
                    label,
                    msg: MsgRef::Stmt(id),
                } => {
                    let ty = self.payload[*id].clone();
                    let peer = protocol.participant_name(to);
                    let doc = if ty == "()" {
                        format!("`{label}` (no payload) is about to be sent to `to` (`{peer}`).")
                    } else {
                        format!("The payload of `{label}` to `to` (`{peer}`).")
                    };
                    let sig = Sig::new(&[("to", "rt::Peer")], &ty);
                    let spec = label.to_string();
                    self.method(r, "send", *id, snake_case(label), sig, doc, spec, iface);
                }
                Action::Recv {
                    from,
                    label,
                    msg: MsgRef::Stmt(id),
                } => self.receive(protocol, r, from, label, *id, iface),
                Action::Branch { from, alts } => {
                    for alt in alts {
                        if let MsgRef::Stmt(id) = alt.msg {
                            self.receive(protocol, r, from, &alt.label, id, iface);
                        }
                        self.collect_methods(protocol, r, &alt.body, iface);
                    }
                }
                Action::Select { decision, branches } => {
                    match decision {
                        Decision::Case(c) => {
                            let e = &self.enums[c];
                            let labels: Vec<&str> =
                                e.variants.iter().map(|(_, l)| l.as_str()).collect();
                            let doc = format!(
                                "Which branch `{}` takes: {}.",
                                e.chooser,
                                labels.join(", ")
                            );
                            let sig = Sig::new(&[], &format!("choice::{}", e.name));
                            let name = format!("choose_{}", snake_case(&e.name));
                            let spec = e.name.clone();
                            self.method(r, "case", *c, name, sig, doc, spec, iface);
                        }
                        Decision::Loop(l) => {
                            let (name, first) = self.loop_names.get(l).map_or_else(
                                || ("another_round".to_string(), String::new()),
                                |n| (n.method.clone(), n.first.clone()),
                            );
                            let doc = format!(
                                "Whether the `loop decide by` whose rounds start with `{first}`\n\
                                 runs another round, given the rounds done so far."
                            );
                            let sig = Sig::new(&[("rounds_done", "u32")], "bool");
                            self.method(r, "loop", *l, name, sig, doc, String::new(), iface);
                        }
                    }
                    for (_, body) in branches {
                        self.collect_methods(protocol, r, body, iface);
                    }
                }
                Action::Loop { body, .. }
                | Action::Repeat { body, .. }
                | Action::Foreach { body, .. } => self.collect_methods(protocol, r, body, iface),
                Action::Send { .. } | Action::Recv { .. } | Action::Jump(_) => {}
            }
        }
    }

    fn receive(
        &mut self,
        protocol: &Protocol,
        r: usize,
        from: &crate::check::model::Participant,
        label: &str,
        id: usize,
        iface: &mut RoleIface,
    ) {
        let ty = self.payload[id].clone();
        let peer = protocol.participant_name(from);
        let doc = format!("`{label}` received from `from` (`{peer}`).");
        let sig = if ty == "()" {
            Sig::new(&[("from", "rt::Peer")], "()")
        } else {
            Sig::new(&[("from", "rt::Peer"), ("msg", &ty)], "()")
        };
        let spec = label.to_string();
        self.method(
            r,
            "recv",
            id,
            format!("on_{}", snake_case(label)),
            sig,
            doc,
            spec,
            iface,
        );
    }

    /// Registers a method; the same name and signature is one method, the same
    /// name with another signature gets a numbered name.
    #[allow(clippy::too_many_arguments)]
    fn method(
        &mut self,
        r: usize,
        kind: &'static str,
        key: usize,
        name: String,
        sig: Sig,
        doc: String,
        subject: String,
        iface: &mut RoleIface,
    ) {
        if self.methods.contains_key(&(r, kind, key)) {
            return;
        }
        let name = ident(&name);
        let signature = sig.identity();
        let mut chosen = name.clone();
        let mut n = 2;
        loop {
            match iface.methods.iter().find(|m| m.name == chosen) {
                Some(m) if m.signature == signature => break,
                Some(_) => {
                    chosen = format!("{name}_{n}");
                    n += 1;
                }
                None => {
                    iface.methods.push(Method {
                        name: chosen.clone(),
                        signature,
                        params: sig.params,
                        ret: sig.ret,
                        doc,
                        kind,
                        subject,
                    });
                    break;
                }
            }
        }
        self.methods.insert((r, kind, key), chosen);
    }

    /// The method a family role's code is told its own member index with,
    /// called before any other: named `joined` unless the protocol's labels
    /// already give a method that name, first in the trait.
    fn member_method(&mut self, protocol: &Protocol, r: usize, iface: &mut RoleIface) {
        let family = &protocol.roles[r].name;
        let doc = format!(
            "Called first in every session, before any other method: this code runs\n\
             as member `index` of `{family}` (counting from 0). The default does nothing."
        );
        let sig = Sig::new(&[("index", "u32")], "()");
        let before = iface.methods.len();
        self.method(
            r,
            "member",
            0,
            "joined".into(),
            sig,
            doc,
            String::new(),
            iface,
        );
        if iface.methods.len() > before {
            let m = iface.methods.remove(before);
            iface.methods.insert(0, m);
        }
    }

    /// The method of role `r` for (kind, key), if it has one.
    pub fn method_name(&self, r: usize, kind: &'static str, key: usize) -> Option<&str> {
        self.methods.get(&(r, kind, key)).map(String::as_str)
    }
}
