//! The syntax tree: what the file says, with the byte span of every node
//! and every name in the original source.

use crate::diag::Span;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// A whole `.choreo` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// The `module ... exposing (...)` line, if any.
    pub module: Option<ModuleDecl>,
    /// The protocols, in source order.
    pub protocols: Vec<Protocol>,
}

/// `module <name> exposing (<Protocol>, ...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleDecl {
    /// The module name (may be dotted).
    pub name: Ident,
    /// The exposed protocols; `None` when `exposing` is absent.
    pub exposing: Option<Vec<Ident>>,
    /// The whole declaration.
    pub span: Span,
}

/// `protocol <Name> = roles ...; <statements>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// The protocol name.
    pub name: Ident,
    /// The declared roles, in order.
    pub roles: Vec<RoleDecl>,
    /// The statements of the body.
    pub body: Vec<Stmt>,
    /// From `protocol` to the end of the body.
    pub span: Span,
}

/// One entry of `roles`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDecl {
    /// The role name.
    pub name: Ident,
    /// For a family, its size.
    pub family: Option<FamilySize>,
    /// The whole entry.
    pub span: Span,
}

/// The size of a role family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FamilySize {
    /// `Witness[N]`: a symbolic parameter bound at run time.
    Symbolic(Ident),
    /// `Workers[3]`: a fixed size.
    Fixed(u64, Span),
    /// `Participants[*]`: known only at run time.
    Dynamic(Span),
}

/// A statement with its attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// `@name(args)` lines above the statement.
    pub attrs: Vec<Attribute>,
    /// What the statement does.
    pub kind: StmtKind,
    /// The statement's first line (attributes excluded).
    pub span: Span,
}

/// The kinds of statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind {
    /// `A -> B : Label(...)` (boxed: messages are most statements, and a
    /// small statement keeps long bodies compact).
    Message(Box<Message>),
    /// `case choose R of ...` / `choice at R ...`.
    Case(Case),
    /// `loop ...`.
    Loop(Loop),
    /// `for i in Fam ...`.
    For(For),
}

/// `@name` or `@name(args)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The name, without `@`.
    pub name: Ident,
    /// The arguments, as literals (a bare identifier becomes a string).
    pub args: Vec<Literal>,
    /// The whole attribute.
    pub span: Span,
}

/// A message statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sending side.
    pub from: RoleRef,
    /// The receiving side.
    pub to: RoleRef,
    /// The message label.
    pub label: Ident,
    /// The payload, if any.
    pub payload: Option<Payload>,
}

/// A role as referenced in a statement: `Name`, `Name[idx]`, with annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRef {
    /// The role name.
    pub role: Ident,
    /// The member index, for a family.
    pub index: Option<Box<Index>>,
    /// `[key = value, ...]` after the name (and index).
    pub annotations: Vec<Annotation>,
    /// Name, index and annotations.
    pub span: Span,
}

/// A member index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Index {
    /// `[*]`.
    All(Span),
    /// `[2]`.
    Const(u64, Span),
    /// `[i]`.
    Var(Ident),
    /// `[0..2]` (end exclusive).
    Range(u64, u64, Span),
}

impl Index {
    /// Where the index is written.
    pub fn span(&self) -> Span {
        match self {
            Index::All(s) | Index::Const(_, s) | Index::Range(_, _, s) => *s,
            Index::Var(i) => i.span,
        }
    }
}

/// `key = value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    /// The key.
    pub key: Ident,
    /// The value.
    pub value: Literal,
}

/// A literal value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    /// `"text"` (escapes resolved).
    Str(String, Span),
    /// An integer (may be negative).
    Int(i64, Span),
    /// `true` / `false`.
    Bool(bool, Span),
    /// `[a, b, ...]`.
    List(Vec<Literal>, Span),
}

impl Literal {
    /// Where the literal is written.
    pub fn span(&self) -> Span {
        match self {
            Literal::Str(_, s) | Literal::Int(_, s) | Literal::Bool(_, s) | Literal::List(_, s) => {
                *s
            }
        }
    }

    /// The kind of value, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::Str(..) => "a string",
            Literal::Int(..) => "an integer",
            Literal::Bool(..) => "a boolean",
            Literal::List(..) => "a list",
        }
    }
}

/// A message payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// `Label(crate::path::Type)`: one value of a Rust type.
    Type(TypeText),
    /// `Label(name: Type, ...)`: named fields.
    Fields(Vec<Field>),
}

/// A Rust type as written (whitespace normalised).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeText {
    /// The type, e.g. `Vec<u8>`.
    pub text: String,
    /// Where it is written.
    pub span: Span,
}

/// `name: Type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field name.
    pub name: Ident,
    /// Its type.
    pub ty: TypeText,
}

/// `case choose R of` / `choice at R` with its branches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The role that chooses.
    pub chooser: RoleRef,
    /// The branches, in source order.
    pub branches: Vec<Branch>,
    /// `case choose R of` / `choice at R`.
    pub header: Span,
}

/// `Label -> block`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch {
    /// The branch label.
    pub label: Ident,
    /// The branch body.
    pub body: Vec<Stmt>,
}

/// A loop statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loop {
    /// How rounds are decided.
    pub kind: LoopKind,
    /// The body of one round.
    pub body: Vec<Stmt>,
    /// `loop ...` up to the block.
    pub header: Span,
}

/// The three kinds of loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopKind {
    /// `loop decide by R`.
    Decide(RoleRef),
    /// `loop repeat N`.
    Repeat(Count),
    /// `loop forever`.
    Forever,
}

/// A number of rounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Count {
    /// A constant.
    Const(u64, Span),
    /// A symbolic parameter bound at run time.
    Param(Ident),
}

/// `for var in Family` with its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct For {
    /// The index variable.
    pub var: Ident,
    /// The family iterated over.
    pub family: Ident,
    /// The body, run once per member.
    pub body: Vec<Stmt>,
    /// `for var in Family`.
    pub header: Span,
}
