//! The formatter's safety net: what a file means, with every source position
//! left out, so that a file and its formatted text can be compared. Two texts
//! mean the same when they check to the same model, report the same
//! diagnostics, project to the same local types and hold the same comments.

use super::comments;
use crate::check::{self, model::*};
use crate::diag::{Diagnostic, Span};
use crate::project::{self, Projection};
use crate::syntax::{self, ast};

/// What a source text means, positions left out.
#[derive(Debug, PartialEq, Eq)]
pub struct Meaning {
    /// The checked module.
    pub module: Module,
    /// Each diagnostic's code and message, in order.
    pub diagnostics: Vec<(String, String)>,
    /// Each protocol's projection, or the codes of its projection errors.
    pub projections: Vec<Result<Projection, Vec<String>>>,
    /// The text of every comment, in order.
    pub comments: Vec<String>,
}

/// The meaning of `src`, or its syntax errors. `stem` names the module when
/// the file has no `module` line.
pub fn meaning(src: &str, stem: &str) -> Result<Meaning, Vec<Diagnostic>> {
    Ok(meaning_of(&syntax::parse(src)?, src, stem))
}

/// The meaning of `file`, parsed from `src`.
pub fn meaning_of(file: &ast::File, src: &str, stem: &str) -> Meaning {
    let (module, diags) = check::check(file, stem);
    let mut diagnostics: Vec<(String, String)> = diags
        .iter()
        .map(|d| (d.code.as_str().to_string(), d.message.clone()))
        .collect();
    let projections = module
        .protocols
        .iter()
        .map(|p| {
            project::project(p).map_err(|ds| {
                diagnostics.extend(
                    ds.iter()
                        .map(|d| (d.code.as_str().to_string(), d.message.clone())),
                );
                ds.iter().map(|d| d.code.as_str().to_string()).collect()
            })
        })
        .collect();
    Meaning {
        module: erase_module(module),
        diagnostics,
        projections,
        comments: comments::scan(src)
            .iter()
            .map(|c| c.text(src).to_string())
            .collect(),
    }
}

/// The first difference between two meanings, in words; `None` when equal.
pub fn difference(a: &Meaning, b: &Meaning) -> Option<String> {
    if a.comments != b.comments {
        return Some("the comments differ".into());
    }
    if a.diagnostics != b.diagnostics {
        return Some("the diagnostics differ".into());
    }
    for (i, (pa, pb)) in a
        .module
        .protocols
        .iter()
        .zip(&b.module.protocols)
        .enumerate()
    {
        if pa != pb {
            return Some(format!(
                "the checked model of protocol `{}` differs",
                pa.name
            ));
        }
        if a.projections.get(i) != b.projections.get(i) {
            return Some(format!("the projection of protocol `{}` differs", pa.name));
        }
    }
    (a.module != b.module || a.projections != b.projections)
        .then(|| "the checked module differs".into())
}

const NOWHERE: Span = Span { start: 0, end: 0 };

fn erase_module(m: Module) -> Module {
    let Module { name, protocols } = m;
    Module {
        name,
        protocols: protocols.into_iter().map(erase_protocol).collect(),
    }
}

fn erase_protocol(p: Protocol) -> Protocol {
    let Protocol {
        name,
        span: _,
        exposed,
        roles,
        body,
        messages,
        loops,
        choices,
    } = p;
    Protocol {
        name,
        span: NOWHERE,
        exposed,
        roles: roles
            .into_iter()
            .map(
                |Role {
                     name,
                     span: _,
                     family,
                 }| Role {
                    name,
                    span: NOWHERE,
                    family,
                },
            )
            .collect(),
        body: erase_stmts(body),
        messages,
        loops,
        choices,
    }
}

fn erase_stmts(stmts: Vec<Stmt>) -> Vec<Stmt> {
    stmts.into_iter().map(erase_stmt).collect()
}

fn erase_stmt(s: Stmt) -> Stmt {
    match s {
        Stmt::Message(Message {
            id,
            from,
            to,
            label,
            payload,
            from_annotations,
            to_annotations,
            attrs,
            parallel,
            span: _,
        }) => Stmt::Message(Message {
            id,
            from,
            to,
            label,
            payload,
            from_annotations,
            to_annotations,
            attrs,
            parallel,
            span: NOWHERE,
        }),
        Stmt::Choice(Choice {
            id,
            chooser,
            branches,
            span: _,
            attrs,
        }) => Stmt::Choice(Choice {
            id,
            chooser,
            branches: branches
                .into_iter()
                .map(
                    |Branch {
                         label,
                         span: _,
                         body,
                     }| Branch {
                        label,
                        span: NOWHERE,
                        body: erase_stmts(body),
                    },
                )
                .collect(),
            span: NOWHERE,
            attrs,
        }),
        Stmt::Loop(Loop {
            id,
            kind,
            body,
            span: _,
            attrs,
        }) => Stmt::Loop(Loop {
            id,
            kind,
            body: erase_stmts(body),
            span: NOWHERE,
            attrs,
        }),
        Stmt::ForEach(ForEach {
            var,
            family,
            parallel,
            body,
            span: _,
            attrs,
        }) => Stmt::ForEach(ForEach {
            var,
            family,
            parallel,
            body: erase_stmts(body),
            span: NOWHERE,
            attrs,
        }),
    }
}
