//! Syntax tree to checked model: name resolution and the well-formedness
//! rules of the language reference (section 6) that do not need projection.
//! Rule 5 (knowledge of choice) is checked by [`crate::project`].

mod annotations;
pub mod model;
mod resolve;
pub mod rules;

/// The annotation keys the compiler knows and types (see `docs/language-guide.md`).
pub use annotations::KNOWN as ANNOTATION_KEYS;

use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::ast;
use model::{FamilySize, Module, Role};
use std::collections::HashMap;

/// Checks a parsed file. `stem` is the module name used when the file has no
/// `module` line. Protocols with errors are left out of the returned module.
pub fn check(file: &ast::File, stem: &str) -> (Module, Vec<Diagnostic>) {
    check_with(file, stem, |i| Body::Borrowed(&file.protocols[i].body))
}

/// [`check`], consuming the tree: each protocol body's statements are freed
/// as they are checked, so a long file never holds its whole tree and its
/// whole model at once.
pub fn check_owned(mut file: ast::File, stem: &str) -> (Module, Vec<Diagnostic>) {
    let mut bodies: Vec<Vec<ast::Stmt>> = file
        .protocols
        .iter_mut()
        .map(|p| std::mem::take(&mut p.body))
        .collect();
    check_with(&file, stem, |i| Body::Owned(std::mem::take(&mut bodies[i])))
}

/// A protocol's statements, lent or given.
enum Body<'a> {
    Borrowed(&'a [ast::Stmt]),
    Owned(Vec<ast::Stmt>),
}

fn check_with<'a>(
    file: &'a ast::File,
    stem: &str,
    mut body_of: impl FnMut(usize) -> Body<'a>,
) -> (Module, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for p in &file.protocols {
        if let Some(first) = seen.get(p.name.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateProtocol,
                    format!("protocol `{}` is declared twice", p.name.name),
                    p.name.span,
                    "declared again here",
                )
                .with_label(*first, "first declared here")
                .with_help("rename one of them: a protocol name is declared once per file"),
            );
        } else {
            seen.insert(&p.name.name, p.name.span);
        }
    }
    if file.protocols.is_empty() {
        let span = file.module.as_ref().map_or(Span::new(0, 0), |m| m.span);
        diags.push(
            Diagnostic::new(
                Code::NoProtocol,
                "the file declares no protocol",
                span,
                "nothing to compile",
            )
            .with_help("declare one: `protocol Name =` followed by an indented `roles` line"),
        );
    }
    let exposing = file.module.as_ref().and_then(|m| m.exposing.as_ref());
    if let Some(list) = exposing {
        for name in list {
            if !seen.contains_key(name.name.as_str()) {
                let declared = file.protocols.iter().map(|p| p.name.name.as_str());
                let d = Diagnostic::new(
                    Code::UnknownExport,
                    format!(
                        "`exposing` names `{}`, which this file does not declare",
                        name.name
                    ),
                    name.span,
                    "no such protocol in this file",
                );
                diags.push(
                    match crate::diag::suggest::did_you_mean(&name.name, declared) {
                        Some(hint) => d.with_help(hint),
                        None => d.with_help("declare the protocol, or remove it from the list"),
                    },
                );
            }
        }
    }
    let mut protocols = Vec::new();
    for (i, p) in file.protocols.iter().enumerate() {
        let duplicate = file.protocols[..i]
            .iter()
            .any(|q| q.name.name == p.name.name);
        let exposed = exposing.is_none_or(|list| list.iter().any(|n| n.name == p.name.name));
        let before = diags.iter().filter(|d| d.is_error()).count();
        let model = protocol(p, body_of(i), exposed, &mut diags);
        let errors = diags.iter().filter(|d| d.is_error()).count() - before;
        if errors == 0 && !duplicate {
            protocols.push(model);
        }
    }
    let name = file
        .module
        .as_ref()
        .map_or_else(|| stem.to_string(), |m| m.name.name.clone());
    (Module { name, protocols }, diags)
}

fn protocol(
    p: &ast::Protocol,
    body: Body<'_>,
    exposed: bool,
    diags: &mut Vec<Diagnostic>,
) -> model::Protocol {
    let mut roles: Vec<Role> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for decl in &p.roles {
        if let Some(&first) = names.get(&decl.name.name) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateRole,
                    format!("role `{}` is declared twice", decl.name.name),
                    decl.name.span,
                    "declared again here",
                )
                .with_label(roles[first].span, "first declared here"),
            );
            continue;
        }
        names.insert(decl.name.name.clone(), roles.len());
        roles.push(Role {
            name: decl.name.name.clone(),
            span: decl.name.span,
            family: decl.family.as_ref().map(|f| match f {
                ast::FamilySize::Symbolic(n) => FamilySize::Symbolic(n.name.clone()),
                ast::FamilySize::Fixed(n, _) => FamilySize::Fixed(*n),
                ast::FamilySize::Dynamic(_) => FamilySize::Dynamic,
            }),
        });
    }
    let mut r = resolve::Resolver::new(&roles, &names, diags);
    let body = match body {
        Body::Borrowed(stmts) => r.block(stmts),
        Body::Owned(stmts) => r.block_owned(stmts),
    };
    let (used, messages, loops, choices) = r.finish();
    for (role, used) in roles.iter().zip(used) {
        if !used {
            diags.push(
                Diagnostic::new(
                    Code::UnusedRole,
                    format!(
                        "role `{}` is declared but takes part in no statement",
                        role.name
                    ),
                    role.span,
                    "unused role",
                )
                .with_help("remove it from `roles`, or give it a part in the protocol"),
            );
        }
    }
    model::Protocol {
        name: p.name.name.clone(),
        span: p.name.span,
        exposed,
        roles,
        body,
        messages,
        loops,
        choices,
    }
}
