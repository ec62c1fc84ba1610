//! Rust names for protocol names, roles, labels and fields, and the rules
//! that keep them from colliding with Rust's keywords, the standard prelude
//! and the items every generated module declares.

use crate::check::model::Protocol;
use std::collections::BTreeSet;

/// `InvitationOffer` → `invitation_offer`; `HTTPReply` → `http_reply`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `end_session` → `EndSession`; `accept` → `Accept`; `Commit` stays.
pub fn upper_camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

/// Rust's keywords: strict, reserved, and the weak ones (`union`, `gen`).
pub const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
];

/// The type and trait names of Rust's standard prelude (2021): an item of
/// one of these names would shadow it for the code around it.
pub const PRELUDE: &[&str] = &[
    "AsMut",
    "AsRef",
    "Box",
    "Clone",
    "Copy",
    "Default",
    "DoubleEndedIterator",
    "Drop",
    "Eq",
    "Err",
    "ExactSizeIterator",
    "Extend",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "FromIterator",
    "Into",
    "IntoIterator",
    "Iterator",
    "None",
    "Ok",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Send",
    "Sized",
    "Some",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "TryFrom",
    "TryInto",
    "Unpin",
    "Vec",
];

/// The names a generated module declares or imports at its top level, and
/// `Role`'s associated items: a role trait of one of these names would
/// collide with them.
pub const MODULE_ITEMS: &[&str] = &[
    "ALL",
    "As",
    "Future",
    "GUARDS",
    "PROTOCOL",
    "Params",
    "Role",
    "Run",
    "Types",
    "choice",
    "execute_as",
    "label",
    "msg",
    "rt",
    "scripted",
];

/// A name usable as a Rust identifier: keywords get a trailing `_`.
pub fn ident(name: &str) -> String {
    if KEYWORDS.contains(&name) {
        format!("{name}_")
    } else {
        name.to_string()
    }
}

/// `name`, or `name` + `suffix` when it is a keyword or one of `reserved`.
pub fn escape(name: &str, suffix: &str, reserved: &[&[&str]]) -> String {
    if KEYWORDS.contains(&name) || reserved.iter().any(|r| r.contains(&name)) {
        format!("{name}{suffix}")
    } else {
        name.to_string()
    }
}

/// `base` if no name in `taken` is equal to it, else `base` followed by the
/// first of `sep2`, `sep3`, ... that is free; the result is added to `taken`.
pub fn unique(base: &str, sep: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}{sep}{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// The name of each role's trait (also its `Role` variant and its `As`
/// wrapper), in declaration order: the role's name in upper camel case,
/// with `Role` appended when Rust, the prelude or the module already uses
/// that name (`Self` → `SelfRole`, `Vec` → `VecRole`, `Types` →
/// `TypesRole`), and a number appended to the later of two roles that would
/// get the same name (`e` after `E` → `E2`).
pub fn role_traits(protocol: &Protocol) -> Vec<String> {
    let bases: Vec<String> = protocol
        .roles
        .iter()
        .map(|r| escape(&upper_camel(&r.name), "Role", &[PRELUDE, MODULE_ITEMS]))
        .collect();
    // The first role of each name keeps it; a later one gets the first
    // number that is no role's name.
    let mut taken: BTreeSet<String> = bases.iter().cloned().collect();
    bases
        .iter()
        .enumerate()
        .map(|(i, base)| {
            if bases[..i].contains(base) {
                unique(base, "", &mut taken)
            } else {
                base.clone()
            }
        })
        .collect()
}

/// A generic parameter named `base` (`C`, `N`, `R`), or `base2`, ... when a
/// role trait of the module has that name.
pub fn generic(base: &str, traits: &[String]) -> String {
    let mut taken: BTreeSet<String> = traits.iter().cloned().collect();
    unique(base, "", &mut taken)
}

/// The generic parameters of a module's runners, named apart from its role
/// traits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generics {
    /// The role's code (`C`: the role trait it implements).
    pub code: String,
    /// The transport (`N`).
    pub net: String,
    /// A role ready to run (`R`: `Run`).
    pub run: String,
}

impl Generics {
    /// The generics of a module whose role traits are `traits`.
    pub fn new(traits: &[String]) -> Generics {
        Generics {
            code: generic("C", traits),
            net: generic("N", traits),
            run: generic("R", traits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(snake_case("InvitationOffer"), "invitation_offer");
        assert_eq!(snake_case("HTTPReply"), "http_reply");
        assert_eq!(snake_case("Ping12"), "ping12");
        assert_eq!(snake_case("end_session"), "end_session");
        assert_eq!(snake_case("DkdChoreography"), "dkd_choreography");
        assert_eq!(upper_camel("end_session"), "EndSession");
        assert_eq!(upper_camel("accept"), "Accept");
        assert_eq!(upper_camel("Commit"), "Commit");
        assert_eq!(ident("type"), "type_");
        assert_eq!(ident("share"), "share");
    }

    #[test]
    fn role_traits_never_collide() {
        let src = "protocol P =\n  roles E, e, Self, self, Vec, Role, E2, C\n  E -> e : M\n  Self -> self : M\n  Vec -> Role : M\n  E2 -> C : M\n";
        let unit = crate::driver::compile("p.choreo", src.as_bytes());
        let module = unit.module.expect("compiles");
        let traits = role_traits(&module.protocols[0]);
        assert_eq!(
            traits,
            [
                "E",
                "E3",
                "SelfRole",
                "SelfRole2",
                "VecRole",
                "RoleRole",
                "E2",
                "C"
            ]
        );
        assert_eq!(generic("C", &traits), "C2");
        assert_eq!(generic("N", &traits), "N");
    }
}
