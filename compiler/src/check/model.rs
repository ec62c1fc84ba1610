//! The checked model: a protocol with every name resolved. Only protocols
//! that pass the checks of this stage are turned into a model.

use crate::diag::Span;

/// Index of a role in [`Protocol::roles`].
pub type RoleId = usize;

/// The checked contents of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// The module name (`module` line, or the file stem).
    pub name: String,
    /// The well-formed protocols, in source order.
    pub protocols: Vec<Protocol>,
}

/// One checked protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// The protocol name.
    pub name: String,
    /// Where the name is written.
    pub span: Span,
    /// Whether the module exposes it.
    pub exposed: bool,
    /// The declared roles, in declaration order.
    pub roles: Vec<Role>,
    /// The statements of the body.
    pub body: Vec<Stmt>,
    /// How many message statements the body holds (ids are `0..messages`).
    pub messages: usize,
    /// How many loops the body holds (ids are `0..loops`).
    pub loops: usize,
    /// How many choices the body holds (ids are `0..choices`).
    pub choices: usize,
}

/// A declared role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// The role name.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
    /// For a family, its size.
    pub family: Option<FamilySize>,
}

/// The size of a role family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FamilySize {
    /// Bound at run time through a named parameter.
    Symbolic(String),
    /// Fixed in the source.
    Fixed(u64),
    /// Known only at run time.
    Dynamic,
}

/// A role, or some members of a family, as one side of a statement.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Participant {
    /// The role.
    pub role: RoleId,
    /// Which members, for a family.
    pub sel: Sel,
}

/// Which members of a role a participant stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sel {
    /// A single (non-family) role.
    Single,
    /// `[*]`: every member.
    All,
    /// `[k]`: one member.
    Member(u64),
    /// `[i]`: the member bound by an enclosing `for i in ...`.
    Var(String),
    /// `[a..b]`: the members `a` to `b - 1`.
    Range(u64, u64),
}

/// A statement of the checked model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// A message.
    Message(Message),
    /// A choice.
    Choice(Choice),
    /// A loop.
    Loop(Loop),
    /// A per-member round.
    ForEach(ForEach),
}

/// A message statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Unique within the protocol, in source order.
    pub id: usize,
    /// The sender.
    pub from: Participant,
    /// The receiver.
    pub to: Participant,
    /// The label.
    pub label: String,
    /// The payload.
    pub payload: Payload,
    /// Annotations on the sender (`None` when it has none).
    pub from_annotations: Option<Box<Annotations>>,
    /// Annotations on the receiver (`None` when it has none).
    pub to_annotations: Option<Box<Annotations>>,
    /// Attributes of the statement.
    pub attrs: Vec<Attribute>,
    /// Whether the per-member sends may run concurrently (`@parallel`).
    pub parallel: bool,
    /// The statement.
    pub span: Span,
}

/// What a message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Nothing.
    Unit,
    /// One value of a Rust type.
    Type(String),
    /// Named fields with their Rust types.
    Fields(Vec<(String, String)>),
}

/// The annotations of one side of a message, typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Capabilities the sender must hold.
    pub guard_capability: Vec<String>,
    /// Charged to the flow budget for the peer.
    pub flow_cost: Option<u64>,
    /// Fact recorded in the journal on send.
    pub journal_facts: Option<String>,
    /// Whether the receiver is asked to merge journals.
    pub journal_merge: Option<bool>,
    /// Audit entry written on send.
    pub audit_log: Option<String>,
    /// Leakage recorded against observer classes (as written).
    pub leak: Option<String>,
    /// Allowed leakage `[external, neighbor, group]`.
    pub leakage_budget: Option<[u64; 3]>,
    /// Unknown keys, passed on as strings.
    pub other: Vec<(String, String)>,
}

/// A statement attribute, kept for the generated code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The name, without `@`.
    pub name: String,
    /// The arguments, rendered as source text.
    pub args: Vec<String>,
}

/// A choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Unique within the protocol, in source order.
    pub id: usize,
    /// Who chooses.
    pub chooser: Participant,
    /// The branches, in source order.
    pub branches: Vec<Branch>,
    /// The `case` header.
    pub span: Span,
    /// Attributes of the statement (kept for the generated code).
    pub attrs: Vec<Attribute>,
}

/// One branch of a choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch {
    /// The label.
    pub label: String,
    /// Where the label is written.
    pub span: Span,
    /// The body.
    pub body: Vec<Stmt>,
}

/// A loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loop {
    /// Unique within the protocol, in source order.
    pub id: usize,
    /// How rounds are decided.
    pub kind: LoopKind,
    /// One round.
    pub body: Vec<Stmt>,
    /// The `loop` header.
    pub span: Span,
    /// Attributes of the statement (kept for the generated code).
    pub attrs: Vec<Attribute>,
}

/// The kinds of loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopKind {
    /// The participant decides before each round.
    Decide(Participant),
    /// A number of rounds.
    Repeat(Count),
    /// Rounds without end.
    Forever,
}

/// A number of rounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Count {
    /// Fixed.
    Const(u64),
    /// A parameter bound at run time.
    Param(String),
}

/// `for var in family`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForEach {
    /// The index variable.
    pub var: String,
    /// The family.
    pub family: RoleId,
    /// Whether rounds may interleave (`@parallel`).
    pub parallel: bool,
    /// One member's round.
    pub body: Vec<Stmt>,
    /// The `for` header.
    pub span: Span,
    /// Attributes of the statement (kept for the generated code).
    pub attrs: Vec<Attribute>,
}

impl Protocol {
    /// The display name of a participant: `A`, `F[*]`, `F[0]`, `F[i]`, `F[0..2]`.
    pub fn participant_name(&self, p: &Participant) -> String {
        participant_name(&self.roles, p)
    }
}

/// The display name of a participant among `roles`.
pub fn participant_name(roles: &[Role], p: &Participant) -> String {
    let name = &roles[p.role].name;
    match &p.sel {
        Sel::Single => name.clone(),
        Sel::All => format!("{name}[*]"),
        Sel::Member(k) => format!("{name}[{k}]"),
        Sel::Var(v) => format!("{name}[{v}]"),
        Sel::Range(a, b) => format!("{name}[{a}..{b}]"),
    }
}
