//! Runner bodies: one async function per local type, written statement by
//! statement from the actions (the file around them comes from templates).

use super::plan::Plan;
use super::types::bind;
use super::Tables;
use crate::check::model::{Count, Participant, Protocol, Sel};
use crate::project::local::{Action, Alt, Decision, MsgRef};
use std::collections::BTreeSet;

/// What [`Body::write`] wrote.
pub struct Written {
    /// The function body.
    pub code: String,
    /// Whether it uses `params`.
    pub uses_params: bool,
    /// Whether it calls the role's code.
    pub uses_role: bool,
    /// Whether it uses the session `s`.
    pub uses_session: bool,
    /// The guards (by index) its sends use.
    pub guards: BTreeSet<usize>,
}

/// Who a runner runs as, for telling a family member its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// A single role: nothing to tell.
    None,
    /// Member `k`, singled out by the protocol.
    Fixed(u64),
    /// Any other member: its index is the session's.
    Session,
}

/// Writes the body of the runner of role `role` for local type `seq`.
pub struct Body<'a> {
    protocol: &'a Protocol,
    plan: &'a Plan,
    tables: &'a Tables,
    role: usize,
    guards: BTreeSet<usize>,
    out: String,
    depth: usize,
    /// Loop ids whose decider is this role (they count rounds).
    counted: Vec<usize>,
    /// Index variables bound by generated `for` loops: (var, family, used,
    /// Rust name).
    bound: Vec<(String, usize, bool, String)>,
    /// Inside a per-member alternative: (family, peer variable).
    focus: Vec<(usize, String)>,
    /// Whether the body uses `params` / `role`.
    pub uses_params: bool,
    /// Whether the body calls the role's trait.
    pub uses_role: bool,
}

impl<'a> Body<'a> {
    /// A writer for role `role`.
    pub fn new(protocol: &'a Protocol, plan: &'a Plan, tables: &'a Tables, role: usize) -> Self {
        Body {
            protocol,
            plan,
            tables,
            role,
            guards: BTreeSet::new(),
            out: String::new(),
            depth: 1,
            counted: Vec::new(),
            bound: Vec::new(),
            focus: Vec::new(),
            uses_params: false,
            uses_role: false,
        }
    }

    /// Writes `seq` as the function body of a runner for `member`.
    pub fn write(mut self, seq: &[Action], member: Member) -> Written {
        self.tell_member(member);
        let diverges = self.seq(seq);
        if !diverges {
            self.line("Ok(())");
        }
        Written {
            uses_session: mentions(&self.out, "s"),
            code: self.out,
            uses_params: self.uses_params,
            uses_role: self.uses_role,
            guards: self.guards,
        }
    }

    /// Tells a family member's code its index before anything else.
    fn tell_member(&mut self, member: Member) {
        let Some(method) = self.plan.method_name(self.role, "member", 0) else {
            return;
        };
        let method = method.to_string();
        let index = match member {
            Member::None => return,
            Member::Fixed(k) => k.to_string(),
            Member::Session => {
                self.line("let Some(index) = s.me().index() else {");
                self.line("    return Err(rt::RunError::Session(s.not_a_party()));");
                self.line("};");
                "index".to_string()
            }
        };
        self.uses_role = true;
        self.line(&format!("s.call(role.{method}({index})).await?;"));
    }

    fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Writes a sequence; returns whether it never falls through.
    fn seq(&mut self, seq: &[Action]) -> bool {
        let mut diverges = false;
        for a in seq {
            diverges = self.action(a);
        }
        diverges
    }

    /// An expression for the one peer `p` stands for, if it is one.
    fn one(&mut self, p: &Participant) -> Option<String> {
        let r = p.role;
        Some(match &p.sel {
            Sel::Single => format!("s.single({r})?"),
            Sel::Member(k) => format!("s.member({r}, {k})?"),
            Sel::Var(v) => match self
                .bound
                .iter_mut()
                .rev()
                .find(|(n, f, _, _)| n == v && *f == p.role)
            {
                Some((_, _, used, rust)) => {
                    *used = true;
                    format!("s.member({r}, {rust})?")
                }
                // A member's own round: the variable is the member itself.
                None => "s.me()".to_string(),
            },
            Sel::All => {
                let (_, var) = self.focus.iter().rev().find(|(f, _)| *f == p.role)?;
                var.clone()
            }
            Sel::Range(..) => return None,
        })
    }

    /// An expression for the several peers `p` stands for.
    fn many(&self, p: &Participant) -> String {
        let r = p.role;
        match &p.sel {
            Sel::Range(a, b) => format!("s.member_range({r}, {a}, {b})?"),
            _ => format!("s.members({r})?"),
        }
    }

    /// The `label::` constant of a message.
    fn label_of(&self, msg: MsgRef, label: &str) -> String {
        let label = match msg {
            MsgRef::Stmt(_) => label,
            MsgRef::Continue(_) => "Continue",
            MsgRef::Done(_) => "Done",
        };
        format!("label::{}", super::label_constant(label))
    }

    /// The payload type of a message, bound to the role's `Types`.
    fn payload_type(&self, msg: MsgRef) -> String {
        match msg {
            MsgRef::Stmt(id) => bind(
                &self.plan.payload[id],
                &format!("{}::Types", self.plan.generics.code),
            ),
            _ => "()".into(),
        }
    }

    /// The guard index constant of a send.
    fn guard(&mut self, msg: MsgRef, label: &str) -> String {
        let (index, name) = match msg {
            MsgRef::Stmt(id) => (id, super::guard_name(label, id)),
            MsgRef::Continue(_) => (self.tables.control.map_or(0, |c| c.0), "G_CONTINUE".into()),
            MsgRef::Done(_) => (self.tables.control.map_or(0, |c| c.1), "G_DONE".into()),
        };
        self.guards.insert(index);
        name
    }

    fn parallel(&self, msg: MsgRef) -> bool {
        let MsgRef::Stmt(id) = msg else { return false };
        let mut parallel = false;
        crate::check::rules::each_message(&self.protocol.body, &mut |m| {
            if m.id == id {
                parallel = m.parallel;
            }
        });
        parallel
    }

    fn action(&mut self, a: &Action) -> bool {
        match a {
            Action::Send { to, label, msg } => self.send(to, label, *msg),
            Action::Recv { from, label, msg } => self.recv(from, label, *msg),
            Action::Select {
                decision: Decision::Case(c),
                branches,
            } => {
                let method = self
                    .plan
                    .method_name(self.role, "case", *c)
                    .unwrap_or("choose")
                    .to_string();
                let e = &self.plan.enums[c];
                let arms: Vec<(String, &[Action])> = branches
                    .iter()
                    .map(|(label, body)| {
                        let v = e
                            .variants
                            .iter()
                            .find(|(_, l)| l == label)
                            .map_or("", |(v, _)| v.as_str());
                        (format!("choice::{}::{v}", e.name), body.as_slice())
                    })
                    .collect();
                self.uses_role = true;
                self.line(&format!("match s.call(role.{method}()).await? {{"));
                let mut diverges = true;
                for (pattern, body) in arms {
                    self.line(&format!("    {pattern} => {{"));
                    self.depth += 2;
                    diverges &= self.seq(body);
                    self.depth -= 2;
                    self.line("    }");
                }
                self.line("}");
                diverges
            }
            Action::Select {
                decision: Decision::Loop(l),
                branches,
            } => {
                let method = self
                    .plan
                    .method_name(self.role, "loop", *l)
                    .unwrap_or("another_round")
                    .to_string();
                self.uses_role = true;
                let body = |label: &str| {
                    branches
                        .iter()
                        .find(|(b, _)| b == label)
                        .map(|(_, s)| s.as_slice())
                        .unwrap_or(&[])
                };
                self.line(&format!("if s.call(role.{method}(round_{l})).await? {{"));
                self.depth += 1;
                let a = self.seq(body("Continue"));
                self.depth -= 1;
                self.line("} else {");
                self.depth += 1;
                let b = self.seq(body("Done"));
                self.depth -= 1;
                self.line("}");
                a && b
            }
            Action::Branch { from, alts } => self.branch(from, alts),
            Action::Loop { id, body } => {
                let decides = body.first().is_some_and(
                    |a| matches!(a, Action::Select { decision: Decision::Loop(l), .. } if l == id),
                );
                if decides {
                    self.counted.push(*id);
                    self.line(&format!("let mut round_{id}: u32 = 0;"));
                }
                self.line(&format!("'l{id}: loop {{"));
                self.depth += 1;
                let diverges = self.seq(body);
                if !diverges {
                    self.line(&format!("break 'l{id};"));
                }
                self.depth -= 1;
                self.line("}");
                diverges
            }
            Action::Jump(id) => {
                if self.counted.contains(id) {
                    self.line(&format!("round_{id} += 1;"));
                }
                self.line(&format!("continue 'l{id};"));
                true
            }
            Action::Repeat { count, body } => {
                let n = match count {
                    Count::Const(n) => n.to_string(),
                    Count::Param(p) => {
                        self.uses_params = true;
                        format!(
                            "params.{}",
                            super::names::ident(&super::names::snake_case(p))
                        )
                    }
                };
                self.line(&format!("for _ in 0..{n} {{"));
                self.depth += 1;
                self.seq(body);
                self.depth -= 1;
                self.line("}");
                false
            }
            Action::Foreach { family, var, body } => {
                // `i_<var>`: never one of the runner's own names (`s`,
                // `role`, `to`, ...); numbered if an enclosing `for` has it.
                let base = format!("i_{}", super::names::snake_case(var));
                let mut rust = base.clone();
                let mut n = 2;
                while self.bound.iter().any(|(_, _, _, r)| *r == rust) {
                    rust = format!("{base}_{n}");
                    n += 1;
                }
                let start = self.out.len();
                self.line(&format!("for {rust} in 0..s.members({family})?.count() {{"));
                self.bound.push((var.clone(), *family, false, rust.clone()));
                self.depth += 1;
                self.seq(body);
                self.depth -= 1;
                self.line("}");
                let (_, _, used, _) = self.bound.pop().unwrap_or_default();
                if !used {
                    let header = format!("for {rust} in");
                    let fixed = self.out[start..].replacen(&header, "for _ in", 1);
                    self.out.truncate(start);
                    self.out.push_str(&fixed);
                }
                false
            }
        }
    }

    fn send(&mut self, to: &Participant, label: &str, msg: MsgRef) -> bool {
        let guard = self.guard(msg, label);
        let ty = self.payload_type(msg);
        let method = match msg {
            MsgRef::Stmt(id) => self
                .plan
                .method_name(self.role, "send", id)
                .map(str::to_string),
            _ => None,
        };
        if method.is_some() {
            self.uses_role = true;
        }
        match self.one(to) {
            Some(peer) => {
                self.line("{");
                self.line(&format!("    let to = {peer};"));
                let payload = match &method {
                    Some(m) if ty == "()" => {
                        self.line(&format!("    s.call(role.{m}(to)).await?;"));
                        "&()"
                    }
                    Some(m) => {
                        self.line(&format!("    let payload = s.call(role.{m}(to)).await?;"));
                        "&payload"
                    }
                    None => "&()",
                };
                self.line(&format!("    s.send(to, {guard}, {payload}).await?;"));
                self.line("}");
            }
            None => {
                let parallel = self.parallel(msg);
                self.line("{");
                self.line(&format!("    let to = {};", self.many(to)));
                self.line(&format!(
                    "    let mut messages: Vec<(rt::Peer, {ty})> = Vec::with_capacity(to.count() as usize);"
                ));
                self.line("    for p in to.iter() {");
                match &method {
                    Some(m) if ty == "()" => {
                        self.line(&format!("        s.call(role.{m}(p)).await?;"));
                        self.line("        messages.push((p, ()));");
                    }
                    Some(m) => {
                        self.line(&format!("        let m = s.call(role.{m}(p)).await?;"));
                        self.line("        messages.push((p, m));");
                    }
                    None => self.line("        messages.push((p, ()));"),
                }
                self.line("    }");
                self.line(&format!(
                    "    s.fan_out({guard}, {parallel}, &messages).await?;"
                ));
                self.line("}");
            }
        }
        false
    }

    fn recv(&mut self, from: &Participant, label: &str, msg: MsgRef) -> bool {
        let label = self.label_of(msg, label);
        let ty = self.payload_type(msg);
        let method = match msg {
            MsgRef::Stmt(id) => self
                .plan
                .method_name(self.role, "recv", id)
                .map(str::to_string),
            _ => None,
        };
        if method.is_some() {
            self.uses_role = true;
        }
        let unit = ty == "()";
        match self.one(from) {
            Some(peer) => {
                self.line("{");
                self.line(&format!("    let from = {peer};"));
                if unit {
                    self.line(&format!("    s.recv::<()>(from, {label}).await?;"));
                    if let Some(m) = &method {
                        self.line(&format!("    s.call(role.{m}(from)).await?;"));
                    }
                } else {
                    self.line(&format!(
                        "    let msg: {ty} = s.recv(from, {label}).await?;"
                    ));
                    match &method {
                        Some(m) => self.line(&format!("    s.call(role.{m}(from, msg)).await?;")),
                        None => self.line("    let _ = msg;"),
                    }
                }
                self.line("}");
            }
            None => {
                let parallel = self.parallel(msg);
                self.line("{");
                self.line(&format!("    let from = {};", self.many(from)));
                self.line(&format!(
                    "    let msgs: Vec<{ty}> = s.fan_in(from, {label}, {parallel}).await?;"
                ));
                match (&method, unit) {
                    (Some(m), true) => {
                        self.line("    for peer in from.iter().take(msgs.len()) {");
                        self.line(&format!("        s.call(role.{m}(peer)).await?;"));
                        self.line("    }");
                    }
                    (Some(m), false) => {
                        self.line("    for (peer, msg) in from.iter().zip(msgs) {");
                        self.line(&format!("        s.call(role.{m}(peer, msg)).await?;"));
                        self.line("    }");
                    }
                    (None, _) => self.line("    let _ = msgs;"),
                }
                self.line("}");
            }
        }
        false
    }

    fn branch(&mut self, from: &Participant, alts: &[Alt]) -> bool {
        let constants: Vec<String> = alts
            .iter()
            .map(|a| self.label_of(a.msg, &a.label))
            .collect();
        let labels = format!("&[{}]", constants.join(", "));
        let single = self.one(from);
        self.line("{");
        self.depth += 1;
        let per_member = single.is_none();
        match &single {
            Some(peer) => {
                self.line(&format!("let from = {peer};"));
                self.line(&format!(
                    "let offer = s.recv_choice(from, {labels}).await?;"
                ));
            }
            None => {
                let parallel = alts.iter().any(|a| self.parallel(a.msg));
                self.line(&format!("let from = {};", self.many(from)));
                self.line(&format!(
                    "for offer in s.fan_in_choice(from, {labels}, {parallel}).await? {{"
                ));
                self.depth += 1;
                self.line("let from = offer.from();");
                self.focus.push((from.role, "from".into()));
            }
        }
        self.line("match offer.label() {");
        let mut diverges = true;
        for (alt, constant) in alts.iter().zip(&constants) {
            self.line(&format!("    {constant} => {{"));
            self.depth += 2;
            let ty = self.payload_type(alt.msg);
            let method = match alt.msg {
                MsgRef::Stmt(id) => self
                    .plan
                    .method_name(self.role, "recv", id)
                    .map(str::to_string),
                _ => None,
            };
            match (&method, ty == "()") {
                (Some(m), true) => {
                    self.uses_role = true;
                    self.line("offer.decode::<()>()?;");
                    self.line(&format!("s.call(role.{m}(from)).await?;"));
                }
                (Some(m), false) => {
                    self.uses_role = true;
                    self.line(&format!("let msg: {ty} = offer.decode()?;"));
                    self.line(&format!("s.call(role.{m}(from, msg)).await?;"));
                }
                (None, _) => self.line(&format!("offer.decode::<{ty}>()?;")),
            }
            diverges &= self.seq(&alt.body);
            self.depth -= 2;
            self.line("    }");
        }
        self.line("    _ => return Err(offer.unexpected().into()),");
        self.line("}");
        if per_member {
            self.focus.pop();
            self.depth -= 1;
            self.line("}");
            diverges = false;
        }
        self.depth -= 1;
        self.line("}");
        diverges
    }
}

/// Whether `code` uses the identifier `name` as a value (`name.`, `name,`,
/// `name)`): not as part of a longer identifier, a path or a label.
fn mentions(code: &str, name: &str) -> bool {
    let bytes = code.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    code.match_indices(name).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + name.len()).copied();
        !before.is_some_and(|b| word(b) || b == b'\'' || b == b':' || b == b'.')
            && !after.is_some_and(|b| word(b) || b == b':')
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_finds_whole_identifiers_only() {
        assert!(mentions("    let to = s.single(0)?;", "s"));
        assert!(mentions("f(s, params)", "s"));
        assert!(!mentions("params.rounds; msgs.len(); 'ls: loop", "s"));
        assert!(!mentions("Ok(())", "s"));
    }
}
