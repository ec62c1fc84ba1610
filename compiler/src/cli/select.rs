//! `--protocol` and `--role`: choosing what a verb works on among the
//! protocols of its inputs, with a suggestion when a name is misspelled.

use choreoc::check::model::Protocol;
use choreoc::diag::suggest::did_you_mean;
use choreoc::driver::Unit;
use choreoc::project::{LocalType, Projection};

/// A protocol of one of the inputs, with its projection.
#[derive(Clone, Copy)]
pub struct Chosen<'a> {
    /// The input it comes from.
    pub unit: &'a Unit,
    /// The checked protocol.
    pub protocol: &'a Protocol,
    /// Its local types.
    pub projection: &'a Projection,
}

impl<'a> Chosen<'a> {
    /// How generated files name the input (`/` separators).
    pub fn source(&self) -> String {
        self.unit.file.name().replace('\\', "/")
    }

    /// The local types of `role` (a family name selects every local type of
    /// the family: its singled-out members and the others), or all of them.
    pub fn locals(&self, role: Option<&str>) -> Result<Vec<&'a LocalType>, String> {
        let p = self.protocol;
        let found: Vec<_> = self
            .projection
            .locals
            .iter()
            .filter(|l| role.is_none_or(|r| l.name == r || p.roles[l.target.role()].name == r))
            .collect();
        match role {
            Some(r) if found.is_empty() => {
                let names: Vec<&str> = self
                    .projection
                    .locals
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect();
                Err(with_hint(
                    format!(
                        "no role `{r}` in protocol `{}` (roles: {})",
                        p.name,
                        names.join(", ")
                    ),
                    r,
                    names.iter().copied(),
                ))
            }
            _ => Ok(found),
        }
    }
}

/// Every protocol of `units` that projected, in input order, or only those
/// called `name`.
pub fn protocols<'a>(units: &'a [Unit], name: Option<&str>) -> Result<Vec<Chosen<'a>>, String> {
    let mut all = Vec::new();
    for unit in units {
        let Some(module) = &unit.module else { continue };
        for (i, projection) in &unit.projections {
            all.push(Chosen {
                unit,
                protocol: &module.protocols[*i],
                projection,
            });
        }
    }
    let Some(name) = name else { return Ok(all) };
    let names: Vec<&str> = all.iter().map(|c| c.protocol.name.as_str()).collect();
    let found: Vec<Chosen> = all
        .iter()
        .filter(|c| c.protocol.name == name)
        .copied()
        .collect();
    if found.is_empty() {
        let place = match units {
            [one] => one.file.name().to_string(),
            _ => "the inputs".to_string(),
        };
        return Err(with_hint(
            format!(
                "no protocol `{name}` in {place} (declared: {})",
                names.join(", ")
            ),
            name,
            names.iter().copied(),
        ));
    }
    Ok(found)
}

/// The chosen protocols that have `role`, each with the local types it
/// selects (all of them without `role`). A role that none of them has is an
/// error.
pub fn with_role<'a>(
    chosen: &[Chosen<'a>],
    role: Option<&str>,
) -> Result<Vec<(Chosen<'a>, Vec<&'a LocalType>)>, String> {
    let mut out = Vec::new();
    let mut first_error = None;
    for c in chosen {
        match c.locals(role) {
            Ok(locals) => out.push((*c, locals)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (out.is_empty(), first_error, chosen) {
        (true, Some(e), [_]) => Err(e),
        (true, Some(_), _) => {
            let r = role.unwrap_or_default();
            let names: Vec<&str> = chosen
                .iter()
                .flat_map(|c| c.projection.locals.iter().map(|l| l.name.as_str()))
                .collect();
            Err(with_hint(
                format!("no protocol of the inputs has a role `{r}`"),
                r,
                names,
            ))
        }
        _ => Ok(out),
    }
}

/// `message`, followed by `; did you mean `X`?` when a candidate is close.
pub fn with_hint<'a>(
    message: String,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match did_you_mean(name, candidates) {
        Some(hint) => format!("{message}; {hint}"),
        None => message,
    }
}
