//! Rust code generation (`choreoc build`): one crate per protocol, rendered
//! from the askama templates in `templates/rust/`, then formatted with
//! rustfmt. A generated crate depends on the runtime crate only.

mod body;
pub mod names;
mod plan;
pub mod types;

use crate::check::model::{Protocol, Stmt};
use crate::project::{Projection, Target};
use askama::Template;
use names::{snake_case, upper_camel};
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

/// The directory (and package name) of a protocol's crate.
pub fn crate_dir(protocol: &str) -> String {
    snake_case(protocol)
}

/// The name of the guard constant of message `id` labelled `label`.
pub(crate) fn guard_name(label: &str, id: usize) -> String {
    format!("{}_GUARD_{id}", snake_case(label).to_uppercase())
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
    trait_name: String,
    snake: String,
    methods: Vec<plan::Method>,
    targets: Vec<TargetData>,
    dispatch: bool,
    has_others: bool,
}

struct TargetData {
    fn_name: String,
    what: String,
    index: Option<u64>,
    body: String,
    uses_params: bool,
    uses_role: bool,
}

struct GuardData {
    name: String,
    label: String,
    line: String,
    notes: Vec<String>,
    capabilities: Vec<String>,
    flow_cost: u64,
    journal_fact: String,
    journal_merge: bool,
    audit_log: String,
    leak: String,
    leakage_budget: String,
}

#[derive(Template)]
#[template(path = "rust/lib.rs.askama", escape = "none")]
struct LibRs<'a> {
    source: &'a str,
    protocol: &'a str,
    role_list: String,
    family_match: String,
    types: Vec<types::UserType>,
    params: Vec<String>,
    structs: Vec<plan::StructDef>,
    enums: Vec<plan::ChoiceEnum>,
    guards: Vec<GuardData>,
    roles: Vec<RoleData>,
    all_capabilities: Vec<String>,
    scripted: Vec<ScriptedImpl>,
}

struct ScriptedImpl {
    trait_name: String,
    methods: Vec<String>,
}

/// The scripted implementation of one method (see the template's `scripted`).
fn scripted_method(m: &plan::Method, plan: &plan::Plan) -> String {
    let sig = m
        .signature
        .replace("T::", "<Defaults as Types>::")
        .replace("<T>", "<Defaults>")
        .replace("msg: ", "_msg: ")
        .replace("rounds_done: ", "_rounds_done: ");
    let body = match m.kind {
        "send" if !m.signature.contains("->") => {
            format!("self.trace.push(format!(\"!{{to}}.{}\"));", m.subject)
        }
        "send" => format!(
            "self.trace.push(format!(\"!{{to}}.{}\")); Default::default()",
            m.subject
        ),
        "recv" => format!("self.trace.push(format!(\"?{{from}}.{}\"));", m.subject),
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
                "match self.decide(&[{}]) {{ {} }}",
                labels.join(", "),
                arms.join(" ")
            )
        }
        _ => "self.decide(&[\"Done\", \"Continue\"]) == 1".to_string(),
    };
    format!("fn {}{sig} {{ {body} }}", m.name)
}

/// Renders the crate of one protocol. `source` names the `.choreo` file in
/// headers; line numbers in comments come from `line_of`.
pub fn render(
    protocol: &Protocol,
    projection: &Projection,
    source: &str,
    line_of: &dyn Fn(usize) -> usize,
    runtime: &RuntimeDep,
) -> Vec<File> {
    let plan = plan::plan(protocol, projection);
    let dir = crate_dir(&protocol.name);
    let runtime_dep = match runtime {
        RuntimeDep::Path(p) => format!("{{ path = {p:?} }}"),
        RuntimeDep::Version(v) => format!("{v:?}"),
    };
    let cargo = CargoToml {
        source,
        crate_name: format!("choreo-{}", snake_case(&protocol.name).replace('_', "-")),
        protocol: &protocol.name,
        runtime_dep,
    };
    let roles = protocol
        .roles
        .iter()
        .enumerate()
        .map(|(r, role)| role_data(protocol, projection, &plan, r, role.family.is_some()))
        .collect::<Vec<_>>();
    let families: Vec<String> = protocol
        .roles
        .iter()
        .filter(|r| r.family.is_some())
        .map(|r| format!("Role::{}", upper_camel(&r.name)))
        .collect();
    let family_match = if families.is_empty() {
        "false".to_string()
    } else {
        format!("matches!(self, {})", families.join(" | "))
    };
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
    let mut all_capabilities: Vec<String> = Vec::new();
    crate::check::rules::each_message(&protocol.body, &mut |m| {
        if let Some(a) = &m.from_annotations {
            all_capabilities.extend(a.guard_capability.iter().cloned());
        }
    });
    all_capabilities.sort();
    all_capabilities.dedup();
    let scripted = roles
        .iter()
        .map(|r| ScriptedImpl {
            trait_name: r.trait_name.clone(),
            methods: r
                .methods
                .iter()
                .map(|m| scripted_method(m, &plan))
                .collect(),
        })
        .collect();
    let lib = LibRs {
        all_capabilities,
        scripted,
        source,
        protocol: &protocol.name,
        role_list,
        family_match,
        types: plan.types.user.clone(),
        params: plan.params.clone(),
        structs: plan.structs.clone(),
        enums: plan.enums.values().cloned().collect(),
        guards: guards(protocol, line_of),
        roles,
    };
    let lib = lib
        .render()
        .unwrap_or_else(|e| format!("// template error: {e}\n"));
    vec![
        File {
            path: format!("{dir}/Cargo.toml"),
            content: cargo.render().unwrap_or_default() + "\n",
        },
        File {
            path: format!("{dir}/src/lib.rs"),
            content: rustfmt(&lib),
        },
    ]
}

fn role_data(
    protocol: &Protocol,
    projection: &Projection,
    plan: &plan::Plan,
    r: usize,
    family: bool,
) -> RoleData {
    let role = &protocol.roles[r];
    let snake = snake_case(&role.name);
    let locals: Vec<_> = projection
        .locals
        .iter()
        .filter(|l| l.target.role() == r)
        .collect();
    let dispatch = locals.len() > 1
        || locals
            .iter()
            .any(|l| matches!(l.target, Target::Member(..)));
    let targets = locals
        .iter()
        .map(|l| {
            let (fn_name, what, index) = match l.target {
                Target::Role(_) => (
                    format!("run_{snake}"),
                    format!("role `{}`", role.name),
                    None,
                ),
                Target::Member(_, k) => (
                    format!("run_{snake}_{k}"),
                    format!("member `{}[{k}]`", role.name),
                    Some(k),
                ),
                Target::Others(_) if dispatch => (
                    format!("run_{snake}_others"),
                    format!("a member of `{}` not named by any statement", role.name),
                    None,
                ),
                Target::Others(_) => (
                    format!("run_{snake}"),
                    format!("a member of `{}`", role.name),
                    None,
                ),
            };
            let (body, uses_params, uses_role) = body::Body::new(protocol, plan, r).write(&l.body);
            TargetData {
                fn_name,
                what,
                index,
                body,
                uses_params,
                uses_role,
            }
        })
        .collect();
    RoleData {
        name: role.name.clone(),
        declared: if family {
            format!("{}[*]", role.name)
        } else {
            role.name.clone()
        },
        trait_name: upper_camel(&role.name),
        snake,
        methods: plan.roles[r].methods.clone(),
        targets,
        dispatch,
        has_others: locals.iter().any(|l| matches!(l.target, Target::Others(_))),
    }
}

fn guards(protocol: &Protocol, line_of: &dyn Fn(usize) -> usize) -> Vec<GuardData> {
    let mut out = Vec::new();
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
        out.push(GuardData {
            name: guard_name(&m.label, m.id),
            label: m.label.clone(),
            line: format!("line {}", line_of(m.span.start)),
            notes,
            capabilities: a.guard_capability.clone(),
            flow_cost: a.flow_cost.unwrap_or(0),
            journal_fact: opt(&a.journal_facts),
            journal_merge: a.journal_merge.unwrap_or(false),
            audit_log: opt(&a.audit_log),
            leak: opt(&a.leak),
            leakage_budget: a
                .leakage_budget
                .map_or("None".into(), |[e, n, g]| format!("Some([{e}, {n}, {g}])")),
        });
    });
    let _ = Stmt::Message;
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
