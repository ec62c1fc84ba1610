//! Rule 8: known annotations carry values of their type.

use super::model::Annotations;
use crate::diag::suggest::closest;
use crate::diag::{Code, Diagnostic};
use crate::syntax::ast::{Annotation, Literal};

/// The annotation keys the compiler knows.
pub const KNOWN: [&str; 7] = [
    "guard_capability",
    "flow_cost",
    "journal_facts",
    "journal_merge",
    "audit_log",
    "leak",
    "leakage_budget",
];

/// Types the annotations of one side of a message, reporting bad values.
pub(super) fn typed(list: &[Annotation], diags: &mut Vec<Diagnostic>) -> Annotations {
    let mut out = Annotations::default();
    for (i, a) in list.iter().enumerate() {
        let key = a.key.name.as_str();
        if let Some(first) = list[..i].iter().find(|b| b.key.name == key) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateAnnotation,
                    format!("annotation `{key}` is given twice"),
                    a.key.span,
                    "given again here",
                )
                .with_label(first.key.span, "first given here"),
            );
            continue;
        }
        let v = &a.value;
        match key {
            "guard_capability" => {
                if let Some(s) = string(key, v, diags) {
                    out.guard_capability = s
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(String::from)
                        .collect();
                }
            }
            "flow_cost" => out.flow_cost = non_negative(key, v, diags),
            "journal_facts" => out.journal_facts = string(key, v, diags),
            "audit_log" => out.audit_log = string(key, v, diags),
            "leak" => out.leak = string(key, v, diags),
            "journal_merge" => match v {
                Literal::Bool(b, _) => out.journal_merge = Some(*b),
                _ => diags.push(wrong_type(key, "a boolean (`true` or `false`)", v)),
            },
            "leakage_budget" => out.leakage_budget = budget(v, diags),
            _ => match closest(key, KNOWN) {
                // A misspelled guard annotation would silently drop a check
                // or a charge: an error, not a pass-through.
                Some(known) => diags.push(
                    Diagnostic::new(
                        Code::MisspelledAnnotation,
                        format!("unknown annotation `{key}`: did you mean `{known}`?"),
                        a.key.span,
                        format!("close to `{known}`"),
                    )
                    .with_help(format!(
                        "write `{known}`; a key this close to a known one is taken for a typo, \
                         so that the guard it names is not silently dropped"
                    )),
                ),
                None => {
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownAnnotation,
                            format!("unknown annotation `{key}`"),
                            a.key.span,
                            "not a known annotation; it is passed on as a string",
                        )
                        .with_help(format!("known annotations: {}", KNOWN.join(", "))),
                    );
                    out.other.push((key.to_string(), render(v)));
                }
            },
        }
    }
    over_budget(list, &out, diags);
    out
}

/// A send whose `leak` exceeds its own `leakage_budget` would be refused
/// every time: that is an error here rather than at run time.
fn over_budget(list: &[Annotation], out: &Annotations, diags: &mut Vec<Diagnostic>) {
    let (Some(leak), Some(budget)) = (&out.leak, out.leakage_budget) else {
        return;
    };
    const CLASSES: [&str; 3] = ["External", "Neighbor", "Group"];
    let mut amounts = [0u64; 3];
    for item in leak.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, units) = match item.split_once(':') {
            Some((name, n)) => (name.trim(), n.trim().parse::<u64>().ok()),
            None => (item, Some(1)),
        };
        if let (Some(i), Some(units)) = (
            CLASSES.iter().position(|c| c.eq_ignore_ascii_case(name)),
            units,
        ) {
            amounts[i] = amounts[i].saturating_add(units);
        }
    }
    for (i, class) in CLASSES.iter().enumerate() {
        if amounts[i] > budget[i] {
            let span = list
                .iter()
                .find(|a| a.key.name == "leak")
                .map_or_else(Default::default, |a| a.value.span());
            let budget_span = list
                .iter()
                .find(|a| a.key.name == "leakage_budget")
                .map_or(span, |a| a.value.span());
            diags.push(
                Diagnostic::new(
                    Code::LeakOverBudget,
                    format!(
                        "this send leaks {} to {class}, but its `leakage_budget` allows {}",
                        amounts[i], budget[i]
                    ),
                    span,
                    format!("leaks {} to {class}", amounts[i]),
                )
                .with_label(budget_span, format!("allows {} to {class}", budget[i]))
                .with_help("the guard chain would refuse this send every time; raise the budget or leak less"),
            );
            return;
        }
    }
}

fn string(key: &str, v: &Literal, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match v {
        Literal::Str(s, _) => Some(s.clone()),
        _ => {
            diags.push(wrong_type(key, "a string", v));
            None
        }
    }
}

fn non_negative(key: &str, v: &Literal, diags: &mut Vec<Diagnostic>) -> Option<u64> {
    match v {
        Literal::Int(n, span) if *n < 0 => {
            diags.push(
                Diagnostic::new(
                    Code::NegativeCost,
                    format!("`{key}` is negative"),
                    *span,
                    "must be 0 or more",
                )
                .with_help("a cost or budget counts units spent; it cannot be negative"),
            );
            None
        }
        Literal::Int(n, _) => Some(*n as u64),
        _ => {
            diags.push(wrong_type(key, "a non-negative integer", v));
            None
        }
    }
}

fn budget(v: &Literal, diags: &mut Vec<Diagnostic>) -> Option<[u64; 3]> {
    let Literal::List(items, span) = v else {
        diags.push(wrong_type(
            "leakage_budget",
            "a list of three integers `[external, neighbor, group]`",
            v,
        ));
        return None;
    };
    if items.len() != 3 {
        diags.push(
            Diagnostic::new(
                Code::BudgetShape,
                format!("`leakage_budget` has {} entries, not 3", items.len()),
                *span,
                "expected `[external, neighbor, group]`",
            )
            .with_help("give one budget per observer class: external, neighbor, group"),
        );
        return None;
    }
    let mut out = [0u64; 3];
    let before = diags.len();
    for (slot, item) in out.iter_mut().zip(items) {
        *slot = non_negative("leakage_budget", item, diags).unwrap_or(0);
    }
    (diags.len() == before).then_some(out)
}

fn wrong_type(key: &str, expected: &str, v: &Literal) -> Diagnostic {
    Diagnostic::new(
        Code::AnnotationType,
        format!("`{key}` must be {expected}, not {}", v.kind()),
        v.span(),
        format!("{} here", v.kind()),
    )
}

/// A literal as source text (for passing unknown annotations and attributes on).
pub(super) fn render(v: &Literal) -> String {
    match v {
        Literal::Str(s, _) => s.clone(),
        Literal::Int(n, _) => n.to_string(),
        Literal::Bool(b, _) => b.to_string(),
        Literal::List(items, _) => {
            format!(
                "[{}]",
                items.iter().map(render).collect::<Vec<_>>().join(", ")
            )
        }
    }
}
