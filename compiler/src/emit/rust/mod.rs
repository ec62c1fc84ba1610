//! Rust code generation: one crate per protocol (`choreoc build`) or one
//! module per protocol (`choreoc-build`, for build scripts), rendered from
//! the askama templates in `templates/rust/`, then formatted with rustfmt.
//! Both forms wrap the same items (`items.rs.askama`): the crate's `lib.rs`
//! puts a crate header around them, the module a `pub mod`. Generated code
//! depends on the runtime crate only.

mod body;
pub mod names;
pub mod plan;
pub mod types;

use crate::check::model::Protocol;
use crate::project::{Projection, Target};
use askama::Template;
use names::snake_case;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// How a generated crate depends on the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeDep {
    /// `choreo-runtime = { path = "..." }` (relative to the generated crate).
    Path(String),
    /// `choreo-runtime = "VERSION"` from crates.io.
    Version(String),
}

/// One generated file, relative to the output directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// `<crate dir>/Cargo.toml`, `<crate dir>/src/lib.rs`.
    pub path: String,
    /// The content.
    pub content: String,
}

/// The directory (and package name) of a protocol's crate, and the file
/// name (without `.rs`) of its module.
pub fn crate_dir(protocol: &str) -> String {
    snake_case(protocol)
}

/// The package name of a protocol's crate (`choreo-guardian-ceremony`).
pub fn package_name(protocol: &str) -> String {
    format!("choreo-{}", snake_case(protocol).replace('_', "-"))
}

/// The name of a protocol's module in the module form: `guardian_ceremony`
/// (`type_` for a protocol named `Type`).
pub fn module_name(protocol: &str) -> String {
    names::ident(&snake_case(protocol))
}

/// Whether, and how, the generated code holds the `scripted` module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scripted {
    /// Behind the crate's `scripted` feature (the crate form).
    Feature,
    /// Always there.
    Always,
    /// Left out.
    Never,
}

/// Options of the module form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleOptions {
    /// Include the `scripted` module (scripted roles for tests).
    pub scripted: bool,
}

/// The name of the guard constant of message `id` labelled `label`.
pub(crate) fn guard_name(label: &str, id: usize) -> String {
    format!("G_{}_{id}", snake_case(label).to_uppercase())
}

/// The name of the constant of label `label` in module `label`.
fn label_constant(label: &str) -> String {
    names::ident(&snake_case(label).to_uppercase())
}

#[derive(Template)]
#[template(path = "rust/Cargo.toml.askama", escape = "none")]
struct CargoToml<'a> {
    source: &'a str,
    crate_name: String,
    protocol: &'a str,
    runtime_dep: String,
}

struct RoleData {
    name: String,
    declared: String,
    family: bool,
    trait_name: String,
    /// The runner `Run` calls: the dispatcher, or the only target's runner.
    entry: String,
    methods: Vec<MethodData>,
    /// Whether a method's name reads as a conversion (`into_`, `from_`,
    /// `to_`), which clippy expects to take `self` otherwise.
    conversion_names: bool,
    targets: Vec<TargetData>,
    dispatch: bool,
    /// The runner of the members no statement singles out, when dispatching.
    others: Option<String>,
}

/// A role trait method as the template writes it.
struct MethodData {
    name: String,
    doc: String,
    /// `&mut self, to: rt::Peer`.
    params: String,
    /// The `Ok` type.
    ret: String,
    /// The body of a provided method.
    default_body: Option<String>,
}

struct TargetData {
    fn_name: String,
    what: String,
    index: Option<u64>,
    body: String,
    uses_params: bool,
    uses_role: bool,
    uses_session: bool,
}

struct LabelData {
    name: String,
    constant: String,
}

struct GuardData {
    index: usize,
    name: String,
    what: String,
    label: String,
    used: bool,
    notes: Vec<String>,
    capabilities: Vec<usize>,
    flow_cost: u64,
    journal_fact: String,
    journal_merge: bool,
    audit_log: String,
    leak: String,
    leak_labels: Vec<String>,
    leakage_budget: String,
}

/// The doc text of a protocol's crate or module, as lines.
#[derive(Template)]
#[template(path = "rust/doc.md.askama", escape = "none")]
struct Doc<'a> {
    protocol: &'a str,
    role_list: String,
    has_types: bool,
    /// `crate` or `module`.
    container: &'a str,
}

/// A crate's `lib.rs`: the crate header, then the items.
#[derive(Template)]
#[template(path = "rust/lib.rs.askama", escape = "none")]
struct LibRs<'a> {
    source: &'a str,
    doc: Vec<String>,
    items: &'a str,
}

/// A build script's module: the items inside one `pub mod`.
#[derive(Template)]
#[template(path = "rust/module.rs.askama", escape = "none")]
struct ModuleRs<'a> {
    source: &'a str,
    doc: Vec<String>,
    name: String,
    items: &'a str,
}

/// The items of a protocol's module, shared by both forms.
#[derive(Template)]
#[template(path = "rust/items.rs.askama", escape = "none")]
struct Items<'a> {
    protocol: &'a str,
    digest: String,
    first_role: String,
    generics: names::Generics,
    scripted: bool,
    scripted_feature: bool,
    /// The argument of `scripted::params`.
    rounds: String,
    /// How payload structs without user types derive `Default` for scripts.
    default_derive: Option<&'static str>,
    types: Vec<types::UserType>,
    params: Vec<String>,
    structs: Vec<plan::StructDef>,
    enums: Vec<plan::ChoiceEnum>,
    labels: Vec<LabelData>,
    facts: Vec<String>,
    guards: Vec<GuardData>,
    roles: Vec<RoleData>,
    all_capabilities: Vec<String>,
    scripted_impls: Vec<ScriptedImpl>,
}

struct ScriptedImpl {
    trait_name: String,
    methods: Vec<String>,
}

/// `&mut self, name: type, ...` with the plan's types bound to `subject`;
/// the names in `unused` get a leading `_`.
fn params(m: &plan::Method, subject: &str, unused: &[&str]) -> String {
    let mut out = String::from("&mut self");
    for (name, ty) in &m.params {
        let name = if unused.contains(&name.as_str()) {
            format!("_{name}")
        } else {
            name.clone()
        };
        out.push_str(&format!(", {name}: {}", types::bind(ty, subject)));
    }
    out
}

/// The scripted implementation of one method (see the template's `scripted`).
fn scripted_method(m: &plan::Method, plan: &plan::Plan) -> String {
    let params = params(m, "Defaults", &["msg", "rounds_done"]);
    let ret = types::bind(&m.ret, "Defaults");
    let body = match m.kind {
        "send" if m.ret == "()" => {
            format!(
                "self.trace.push(format!(\"!{{to}}.{}\")); Ok(())",
                m.subject
            )
        }
        "send" => format!(
            "self.trace.push(format!(\"!{{to}}.{}\")); Ok(Default::default())",
            m.subject
        ),
        "recv" => format!(
            "self.trace.push(format!(\"?{{from}}.{}\")); Ok(())",
            m.subject
        ),
        "member" => "self.member = Some(index); Ok(())".to_string(),
        "case" => {
            let e = plan.enums.values().find(|e| e.name == m.subject);
            let variants = e.map(|e| e.variants.clone()).unwrap_or_default();
            let labels: Vec<String> = variants.iter().map(|(_, l)| format!("{l:?}")).collect();
            let mut arms: Vec<String> = variants
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, (v, _))| format!("{i} => choice::{}::{v},", m.subject))
                .collect();
            if let Some((v, _)) = variants.first() {
                arms.push(format!("_ => choice::{}::{v},", m.subject));
            }
            format!(
                "Ok(match self.decide(&[{}]) {{ {} }})",
                labels.join(", "),
                arms.join(" ")
            )
        }
        _ => "Ok(self.decide(&[\"Done\", \"Continue\"]) == 1)".to_string(),
    };
    // Being told the member index is not a call `fail_at` counts.
    let step = if m.kind == "member" {
        ""
    } else {
        "self.step()?; "
    };
    format!(
        "async fn {}({params}) -> Result<{ret}, ScriptError> {{ {step}{body} }}",
        m.name
    )
}

/// The tables every crate's `PROTOCOL` holds, with the lookups the
/// runners need.
pub(crate) struct Tables {
    /// Labels by id: message labels in order of first use, then `Continue`
    /// and `Done` when a loop is decided.
    pub labels: Vec<String>,
    /// Capabilities, sorted.
    pub capabilities: Vec<String>,
    /// Journal facts in order of first use.
    pub facts: Vec<String>,
    /// The guard index of `Continue` and `Done` (after one per message).
    pub control: Option<(usize, usize)>,
}

impl Tables {
    fn new(protocol: &Protocol, projection: &Projection) -> Tables {
        let mut labels: Vec<String> = Vec::new();
        let mut capabilities: Vec<String> = Vec::new();
        let mut facts: Vec<String> = Vec::new();
        let mut messages = Vec::new();
        crate::check::rules::each_message(&protocol.body, &mut |m| messages.push(m.clone()));
        messages.sort_by_key(|m| m.id);
        for m in &messages {
            if !labels.contains(&m.label) {
                labels.push(m.label.clone());
            }
            if let Some(a) = &m.from_annotations {
                capabilities.extend(a.guard_capability.iter().cloned());
                if let Some(f) = &a.journal_facts {
                    if !facts.contains(f) {
                        facts.push(f.clone());
                    }
                }
            }
        }
        capabilities.sort();
        capabilities.dedup();
        let decided = projection.loops.iter().any(Option::is_some);
        let control = decided.then(|| {
            for l in ["Continue", "Done"] {
                if !labels.iter().any(|x| x == l) {
                    labels.push(l.to_string());
                }
            }
            (protocol.messages, protocol.messages + 1)
        });
        Tables {
            labels,
            capabilities,
            facts,
            control,
        }
    }

    /// The id of `label`.
    pub fn label(&self, label: &str) -> usize {
        self.labels.iter().position(|l| l == label).unwrap_or(0)
    }
}

/// The 16-byte digest of a protocol's global type (the generated crate's
/// `PROTOCOL.digest`): SHA-256 over its name, roles, every local type in
/// canonical notation and every message's payload, so any change a peer
/// could notice on the wire changes it, and comments, layout and
/// annotations do not.
pub fn digest(protocol: &Protocol, projection: &Projection) -> [u8; 16] {
    use sha2::{Digest as _, Sha256};
    let mut text = format!("choreo/protocol/v1\n{}\n", protocol.name);
    for r in &protocol.roles {
        text.push_str(&format!("role {} {}\n", r.name, r.family.is_some()));
    }
    for l in &projection.locals {
        let body = crate::project::local::print(&l.body, &protocol.roles);
        text.push_str(&format!("local {}: {body}\n", l.name));
    }
    let mut messages = Vec::new();
    crate::check::rules::each_message(&protocol.body, &mut |m| {
        messages.push((m.id, m.label.clone(), format!("{:?}", m.payload)))
    });
    messages.sort();
    for (id, label, payload) in messages {
        text.push_str(&format!("message {id} {label} {payload}\n"));
    }
    let hash = Sha256::digest(text.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&hash[..16]);
    out
}

/// The digest as 32 lowercase hex digits, as the runtime prints it.
pub fn digest_hex(protocol: &Protocol, projection: &Projection) -> String {
    digest(protocol, projection)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest as Rust array items (`0x38, 0x22, ...`).
fn digest_items(protocol: &Protocol, projection: &Projection) -> String {
    digest(protocol, projection)
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the crate of one protocol: `Cargo.toml` and `src/lib.rs`.
/// `source` names the `.choreo` file in headers; line numbers in comments
/// come from `line_of`.
pub fn render(
    protocol: &Protocol,
    projection: &Projection,
    source: &str,
    line_of: &dyn Fn(usize) -> usize,
    runtime: &RuntimeDep,
) -> Vec<File> {
    let dir = crate_dir(&protocol.name);
    let runtime_dep = match runtime {
        RuntimeDep::Path(p) => format!("{{ path = {p:?} }}"),
        RuntimeDep::Version(v) => format!("{v:?}"),
    };
    let cargo = CargoToml {
        source,
        crate_name: package_name(&protocol.name),
        protocol: &protocol.name,
        runtime_dep,
    };
    let items = items(protocol, projection, line_of, Scripted::Feature);
    let lib = LibRs {
        source,
        doc: doc(protocol, projection, "crate"),
        items: &items,
    };
    vec![
        File {
            path: format!("{dir}/Cargo.toml"),
            content: cargo.render().unwrap_or_default() + "\n",
        },
        File {
            path: format!("{dir}/src/lib.rs"),
            content: rustfmt(&rendered(lib.render())),
        },
    ]
}

/// Renders the module of one protocol, for a build script to write and a
/// crate to `include!`: one `pub mod <protocol_snake>` holding the same
/// items as the crate's `lib.rs`, with no inner attribute, no `cfg` on a
/// feature, and `#[allow(dead_code)]` for the parts a program leaves unused.
pub fn render_module(
    protocol: &Protocol,
    projection: &Projection,
    source: &str,
    line_of: &dyn Fn(usize) -> usize,
    options: &ModuleOptions,
) -> String {
    let scripted = if options.scripted {
        Scripted::Always
    } else {
        Scripted::Never
    };
    let items = items(protocol, projection, line_of, scripted);
    let module = ModuleRs {
        source,
        doc: doc(protocol, projection, "module"),
        name: module_name(&protocol.name),
        items: &items,
    };
    rustfmt(&rendered(module.render()))
}

/// A template's output, or a comment saying why there is none.
fn rendered(out: askama::Result<String>) -> String {
    out.unwrap_or_else(|e| format!("// template error: {e}\n"))
}

/// The doc text of a protocol's crate or module, line by line.
fn doc(protocol: &Protocol, projection: &Projection, container: &str) -> Vec<String> {
    let role_list = protocol
        .roles
        .iter()
        .map(|r| {
            if r.family.is_some() {
                format!("{}[*]", r.name)
            } else {
                r.name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let doc = Doc {
        protocol: &protocol.name,
        role_list,
        has_types: !plan::plan(protocol, projection).types.user.is_empty(),
        container,
    };
    rendered(doc.render()).lines().map(str::to_string).collect()
}

/// The items of a protocol's module (unformatted).
fn items(
    protocol: &Protocol,
    projection: &Projection,
    line_of: &dyn Fn(usize) -> usize,
    scripted: Scripted,
) -> String {
    let plan = plan::plan(protocol, projection);
    let tables = Tables::new(protocol, projection);
    let mut used = std::collections::BTreeSet::new();
    let mut fns = std::collections::BTreeSet::new();
    let roles = protocol
        .roles
        .iter()
        .enumerate()
        .map(|(r, role)| {
            role_data(
                protocol,
                projection,
                &plan,
                &tables,
                r,
                role.family.is_some(),
                &mut used,
                &mut fns,
            )
        })
        .collect::<Vec<_>>();
    let scripted_impls = roles
        .iter()
        .zip(&plan.roles)
        .map(|(r, iface)| ScriptedImpl {
            trait_name: r.trait_name.clone(),
            methods: iface
                .methods
                .iter()
                .map(|m| scripted_method(m, &plan))
                .collect(),
        })
        .collect();
    let mut constants: Vec<String> = Vec::new();
    let labels = tables
        .labels
        .iter()
        .map(|l| {
            let base = label_constant(l);
            let mut constant = base.clone();
            let mut n = 2;
            while constants.contains(&constant) {
                constant = format!("{base}_{n}");
                n += 1;
            }
            constants.push(constant.clone());
            LabelData {
                name: l.clone(),
                constant,
            }
        })
        .collect::<Vec<_>>();
    let guards = guards(protocol, &tables, &labels, &used, line_of);
    let rounds = if plan.params.iter().any(|p| p == "n") {
        "rounds"
    } else {
        "n"
    };
    let items = Items {
        all_capabilities: tables.capabilities.clone(),
        facts: tables.facts.clone(),
        scripted_impls,
        scripted: scripted != Scripted::Never,
        scripted_feature: scripted == Scripted::Feature,
        default_derive: match scripted {
            Scripted::Feature => Some("#[cfg_attr(feature = \"scripted\", derive(Default))]"),
            Scripted::Always => Some("#[derive(Default)]"),
            Scripted::Never => None,
        },
        rounds: rounds.to_string(),
        generics: plan.generics.clone(),
        protocol: &protocol.name,
        digest: digest_items(protocol, projection),
        first_role: roles
            .first()
            .map(|r| r.trait_name.clone())
            .unwrap_or_default(),
        types: plan.types.user.clone(),
        params: plan.params.clone(),
        structs: plan.structs.clone(),
        enums: plan.enums.values().cloned().collect(),
        labels,
        guards,
        roles,
    };
    rendered(items.render())
}

#[allow(clippy::too_many_arguments)]
fn role_data(
    protocol: &Protocol,
    projection: &Projection,
    plan: &plan::Plan,
    tables: &Tables,
    r: usize,
    family: bool,
    used: &mut std::collections::BTreeSet<usize>,
    fns: &mut std::collections::BTreeSet<String>,
) -> RoleData {
    let role = &protocol.roles[r];
    let trait_name = plan.traits[r].clone();
    // Runner names come from the trait's name, numbered when two would meet.
    let snake = snake_case(&trait_name);
    let mut fn_name = |base: String| names::unique(&base, "_r", fns);
    let locals: Vec<_> = projection
        .locals
        .iter()
        .filter(|l| l.target.role() == r)
        .collect();
    let dispatch = locals.len() > 1
        || locals
            .iter()
            .any(|l| matches!(l.target, Target::Member(..)));
    let entry = fn_name(format!("run_{snake}"));
    let mut others = None;
    let targets = locals
        .iter()
        .map(|l| {
            let (name, what, index, member) = match l.target {
                Target::Role(_) => (
                    entry.clone(),
                    format!("role `{}`", role.name),
                    None,
                    body::Member::None,
                ),
                Target::Member(_, k) => (
                    fn_name(format!("run_{snake}_{k}")),
                    format!("member `{}[{k}]`", role.name),
                    Some(k),
                    body::Member::Fixed(k),
                ),
                Target::Others(_) if dispatch => {
                    let name = fn_name(format!("run_{snake}_others"));
                    others = Some(name.clone());
                    (
                        name,
                        format!("a member of `{}` not named by any statement", role.name),
                        None,
                        body::Member::Session,
                    )
                }
                Target::Others(_) => (
                    entry.clone(),
                    format!("a member of `{}`", role.name),
                    None,
                    body::Member::Session,
                ),
            };
            let written = body::Body::new(protocol, plan, tables, r).write(&l.body, member);
            used.extend(written.guards);
            TargetData {
                fn_name: name,
                what,
                index,
                body: written.code,
                uses_params: written.uses_params,
                uses_role: written.uses_role,
                uses_session: written.uses_session,
            }
        })
        .collect();
    let methods: Vec<MethodData> = plan.roles[r]
        .methods
        .iter()
        .map(|m| MethodData {
            name: m.name.clone(),
            doc: m.doc.clone(),
            params: params(m, "Self::Types", &[]),
            ret: types::bind(&m.ret, "Self::Types"),
            default_body: (m.kind == "member")
                .then(|| "let _ = index;\n        std::future::ready(Ok(()))".to_string()),
        })
        .collect();
    let conversion_names = methods.iter().any(|m| {
        ["into_", "from_", "to_"]
            .iter()
            .any(|p| m.name.starts_with(p))
    });
    RoleData {
        conversion_names,
        name: role.name.clone(),
        declared: if family {
            format!("{}[*]", role.name)
        } else {
            role.name.clone()
        },
        family,
        trait_name,
        entry,
        methods,
        targets,
        dispatch,
        others,
    }
}

/// What one message's `leak` annotation leaks: units per class
/// (`class` is one unit, `class:n` n units, classes ignoring case) and the
/// items that name no class.
fn leakage(spec: &str) -> ([u64; 3], Vec<String>) {
    const CLASSES: [&str; 3] = ["external", "neighbor", "group"];
    let mut amounts = [0u64; 3];
    let mut labels = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, units) = match item.split_once(':') {
            Some((name, n)) => (name.trim(), n.trim().parse::<u64>().ok()),
            None => (item, Some(1)),
        };
        let class = CLASSES.iter().position(|c| c.eq_ignore_ascii_case(name));
        match (class, units) {
            (Some(c), Some(units)) => amounts[c] = amounts[c].saturating_add(units),
            _ => labels.push(item.to_owned()),
        }
    }
    (amounts, labels)
}

fn guards(
    protocol: &Protocol,
    tables: &Tables,
    labels: &[LabelData],
    used: &std::collections::BTreeSet<usize>,
    line_of: &dyn Fn(usize) -> usize,
) -> Vec<GuardData> {
    let mut out = Vec::new();
    let constant = |label: &str| labels[tables.label(label)].constant.clone();
    crate::check::rules::each_message(&protocol.body, &mut |m| {
        let a = m.from_annotations.as_deref().cloned().unwrap_or_default();
        let opt = |v: &Option<String>| {
            v.as_ref()
                .map_or("None".to_string(), |s| format!("Some({s:?})"))
        };
        let mut notes: Vec<String> = a
            .other
            .iter()
            .map(|(k, v)| format!("Annotation `{k} = {v:?}` is passed on uninterpreted."))
            .collect();
        if let Some(to) = &m.to_annotations {
            notes.push(format!(
                "Receiver-side annotations: {}.",
                describe_receiver(to)
            ));
        }
        notes.extend(m.attrs.iter().filter(|x| x.name != "parallel").map(|x| {
            format!(
                "Attribute `@{}({})` is passed on uninterpreted.",
                x.name,
                x.args.join(", ")
            )
        }));
        let (leak, leak_labels) = a.leak.as_deref().map(leakage).unwrap_or_default();
        let capabilities = a
            .guard_capability
            .iter()
            .filter_map(|c| tables.capabilities.iter().position(|x| x == c))
            .collect();
        let journal_fact = a
            .journal_facts
            .as_ref()
            .and_then(|f| tables.facts.iter().position(|x| x == f))
            .map_or("None".to_string(), |i| format!("Some({i})"));
        out.push(GuardData {
            index: m.id,
            name: guard_name(&m.label, m.id),
            what: format!("`{}` (line {})", m.label, line_of(m.span.start)),
            label: constant(&m.label),
            used: used.contains(&m.id),
            notes,
            capabilities,
            flow_cost: a.flow_cost.unwrap_or(0),
            journal_fact,
            journal_merge: a.journal_merge.unwrap_or(false),
            audit_log: opt(&a.audit_log),
            leak: leak.map(|n| n.to_string()).join(", "),
            leak_labels,
            leakage_budget: a
                .leakage_budget
                .map_or("None".into(), |[e, n, g]| format!("Some([{e}, {n}, {g}])")),
        });
    });
    out.sort_by_key(|g| g.index);
    if let Some((cont, done)) = tables.control {
        for (index, label) in [(cont, "Continue"), (done, "Done")] {
            out.push(GuardData {
                index,
                name: format!("G_{}", label.to_uppercase()),
                what: format!("the `{label}` of a decided loop"),
                label: constant(label),
                used: used.contains(&index),
                notes: Vec::new(),
                capabilities: Vec::new(),
                flow_cost: 0,
                journal_fact: "None".into(),
                journal_merge: false,
                audit_log: "None".into(),
                leak: "0, 0, 0".into(),
                leak_labels: Vec::new(),
                leakage_budget: "None".into(),
            });
        }
    }
    out
}

fn describe_receiver(a: &crate::check::model::Annotations) -> String {
    let mut parts = Vec::new();
    if let Some(c) = a.flow_cost {
        parts.push(format!("flow_cost = {c}"));
    }
    if !a.guard_capability.is_empty() {
        parts.push(format!(
            "guard_capability = {:?}",
            a.guard_capability.join(",")
        ));
    }
    for (k, v) in &a.other {
        parts.push(format!("{k} = {v:?}"));
    }
    if parts.is_empty() {
        "none the runtime uses".into()
    } else {
        parts.join(", ")
    }
}

/// Formats Rust source with rustfmt (edition 2021); unformatted if rustfmt
/// cannot be run.
fn rustfmt(code: &str) -> String {
    let child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return code.to_string();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(code.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            String::from_utf8(out.stdout).unwrap_or_else(|_| code.to_string())
        }
        _ => code.to_string(),
    }
}
