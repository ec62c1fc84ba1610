//! What the attributes of an item say about it in a normal build: `#[cfg]`
//! and `#[cfg_attr(.., cfg(..))]` evaluated in three-valued logic (only what
//! is surely on counts as on), test items (`#[test]` and the like), and
//! attributes the analysis does not know, which may be macros that rewrite
//! the item.

use std::collections::BTreeSet;
use syn::punctuated::Punctuated;
use syn::{Attribute, Meta, Token};

/// How an item stands in a normal build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Compiled as written.
    On,
    /// Not compiled, or not surely compiled (the reason, for the notes).
    Off(String),
    /// Compiled through an attribute the analysis does not expand.
    Opaque(String),
}

/// A truth value that may be unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

/// Attributes that do not rewrite the item they are on: the compiler's own
/// (other than `cfg`, `cfg_attr` and the test attributes), and the two
/// attribute macros that only move a function's body (`tokio::main`,
/// `async_trait`).
const TRANSPARENT: &[&str] = &[
    "allow",
    "warn",
    "deny",
    "forbid",
    "expect",
    "deprecated",
    "must_use",
    "doc",
    "inline",
    "cold",
    "track_caller",
    "no_mangle",
    "export_name",
    "link_section",
    "link",
    "target_feature",
    "automatically_derived",
    "non_exhaustive",
    "repr",
    "derive",
    "path",
    "macro_use",
    "macro_export",
    "used",
    "no_link",
    "recursion_limit",
    "type_length_limit",
    "windows_subsystem",
    "no_std",
    "no_main",
    "no_implicit_prelude",
    "feature",
    "crate_type",
    "crate_name",
    "async_trait",
    "async_trait::async_trait",
    "tokio::main",
];

/// Attributes that make an item a test: not compiled in a normal build.
const TESTS: &[&str] = &["test", "bench", "tokio::test", "test_case", "rstest"];

/// Attribute namespaces of tools, which never rewrite code.
const TOOLS: &[&str] = &["rustfmt", "clippy", "diagnostic", "rustdoc"];

/// The verdict of `attrs` with `features` on.
pub fn verdict(attrs: &[Attribute], features: &BTreeSet<String>) -> Verdict {
    let mut opaque = None;
    for attr in attrs {
        let name = path_text(attr.path());
        match name.as_str() {
            "cfg" => {
                let Meta::List(list) = &attr.meta else {
                    return Verdict::Off("a malformed `#[cfg]`".into());
                };
                let text = list.tokens.to_string();
                match list.parse_args::<Meta>() {
                    Ok(m) if eval(&m, features) == Tri::True => {}
                    Ok(_) | Err(_) => return Verdict::Off(format!("under `#[cfg({text})]`")),
                }
            }
            "cfg_attr" => {
                if let Some(off) = cfg_attr(attr, features) {
                    return Verdict::Off(off);
                }
            }
            _ if TESTS.contains(&name.as_str()) => {
                return Verdict::Off(format!("in a test (`#[{name}]`)"));
            }
            _ if TRANSPARENT.contains(&name.as_str())
                || TOOLS.contains(&name.split("::").next().unwrap_or("")) => {}
            _ => {
                opaque.get_or_insert(format!(
                    "under the attribute `#[{name}]`, which the analysis does not expand"
                ));
            }
        }
    }
    match opaque {
        Some(why) => Verdict::Opaque(why),
        None => Verdict::On,
    }
}

/// `#[cfg_attr(pred, attrs..)]`: when `pred` may hold and the attributes
/// hold a `cfg` or a test attribute, why the item is (maybe) off.
fn cfg_attr(attr: &Attribute, features: &BTreeSet<String>) -> Option<String> {
    let Meta::List(list) = &attr.meta else {
        return Some("a malformed `#[cfg_attr]`".into());
    };
    let text = list.tokens.to_string();
    let Ok(items) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
        return Some(format!("under `#[cfg_attr({text})]`"));
    };
    let mut items = items.into_iter();
    let pred = eval(&items.next()?, features);
    if pred == Tri::False {
        return None;
    }
    for m in items {
        let name = path_text(m.path());
        let off = match (&m, name.as_str()) {
            (Meta::List(l), "cfg") => match l.parse_args::<Meta>() {
                Ok(inner) => eval(&inner, features) != Tri::True,
                Err(_) => true,
            },
            (_, n) if TESTS.contains(&n) => true,
            _ => false,
        };
        if off {
            return Some(format!("under `#[cfg_attr({text})]`"));
        }
    }
    None
}

/// A configuration predicate in a normal build of the package: `test`,
/// `doc`, `doctest` and `miri` are off; `feature = ".."` is on for the
/// package's default features; anything else is unknown.
fn eval(m: &Meta, features: &BTreeSet<String>) -> Tri {
    let name = path_text(m.path());
    match m {
        Meta::Path(_) => match name.as_str() {
            "test" | "doc" | "doctest" | "miri" => Tri::False,
            _ => Tri::Unknown,
        },
        Meta::NameValue(nv) => {
            let value = match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => s.value(),
                _ => return Tri::Unknown,
            };
            if name == "feature" && features.contains(&value) {
                Tri::True
            } else {
                Tri::Unknown
            }
        }
        Meta::List(list) => {
            let Ok(args) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            else {
                return Tri::Unknown;
            };
            let values: Vec<Tri> = args.iter().map(|a| eval(a, features)).collect();
            match name.as_str() {
                "not" if values.len() == 1 => match values[0] {
                    Tri::True => Tri::False,
                    Tri::False => Tri::True,
                    Tri::Unknown => Tri::Unknown,
                },
                "all" => {
                    if values.contains(&Tri::False) {
                        Tri::False
                    } else if values.iter().all(|v| *v == Tri::True) {
                        Tri::True
                    } else {
                        Tri::Unknown
                    }
                }
                "any" => {
                    if values.contains(&Tri::True) {
                        Tri::True
                    } else if values.iter().all(|v| *v == Tri::False) {
                        Tri::False
                    } else {
                        Tri::Unknown
                    }
                }
                _ => Tri::Unknown,
            }
        }
    }
}

/// `a::b` for a path.
pub fn path_text(p: &syn::Path) -> String {
    p.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(src: &str) -> Verdict {
        let item: syn::ItemFn = syn::parse_str(&format!("{src} fn f() {{}}")).expect("parses");
        let features = ["std".to_string()].into_iter().collect();
        verdict(&item.attrs, &features)
    }

    #[test]
    fn only_what_is_surely_on_is_on() {
        assert_eq!(of("#[cfg(not(test))] #[inline]"), Verdict::On);
        assert_eq!(of("#[cfg(feature = \"std\")]"), Verdict::On);
        assert_eq!(of("#[cfg(any(test, feature = \"std\"))]"), Verdict::On);
        assert!(matches!(of("#[cfg(test)]"), Verdict::Off(_)));
        assert!(matches!(of("#[cfg(unix)]"), Verdict::Off(_)));
        assert!(matches!(of("#[cfg(feature = \"extra\")]"), Verdict::Off(_)));
        assert!(matches!(
            of("#[cfg(all(unix, not(test)))]"),
            Verdict::Off(_)
        ));
        assert!(matches!(
            of("#[cfg_attr(not(test), cfg(test))]"),
            Verdict::Off(_)
        ));
        assert_eq!(of("#[cfg_attr(test, cfg(test))]"), Verdict::On);
        assert!(matches!(of("#[tokio::test]"), Verdict::Off(_)));
        assert!(matches!(of("#[my_macro]"), Verdict::Opaque(_)));
        assert_eq!(of("#[tokio::main] #[clippy::skip]"), Verdict::On);
    }
}
