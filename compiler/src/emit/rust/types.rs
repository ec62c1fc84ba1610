//! Payload types in generated code. Standard types (`u64`, `Vec<u8>`,
//! `[u8; 32]`, `std::...`) are used as written; every other path names a type
//! of the user's crate (`crate::guardian_ceremony::CeremonyProposal`) and
//! becomes an associated type of the generated `Types` trait, so a generated
//! crate compiles on its own and the user binds their own types without
//! editing generated code.

/// A user type the protocol names, bound through the `Types` trait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserType {
    /// The associated type's name (the path's last segment, made unique).
    pub alias: String,
    /// The path as written in the `.choreo` file.
    pub path: String,
}

/// Collects user types while rewriting type expressions.
#[derive(Clone, Debug, Default)]
pub struct TypeMap {
    /// Every user type, in order of first appearance.
    pub user: Vec<UserType>,
}

const STD_NAMES: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64", "String", "Vec", "Option", "Box", "Result",
];

impl TypeMap {
    /// Rewrites a type expression for generated code, `T::Alias` standing for
    /// each user type; also says whether any user type occurs in it.
    pub fn rewrite(&mut self, ty: &str) -> (String, bool) {
        let mut out = String::with_capacity(ty.len());
        let mut user = false;
        let bytes = ty.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i] as char;
            let path_start =
                c.is_ascii_alphabetic() || c == '_' || (c == ':' && ty[i..].starts_with("::"));
            if !path_start {
                out.push(c);
                i += 1;
                continue;
            }
            // A path: segments joined by `::`.
            let start = i;
            loop {
                if ty[i..].starts_with("::") {
                    i += 2;
                }
                let seg = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if i == seg || !ty[i..].starts_with("::") {
                    break;
                }
            }
            let path = &ty[start..i];
            if is_std(path) {
                out.push_str(path);
            } else {
                user = true;
                out.push_str("T::");
                out.push_str(&self.alias(path));
            }
        }
        (out, user)
    }

    fn alias(&mut self, path: &str) -> String {
        if let Some(u) = self.user.iter().find(|u| u.path == path) {
            return u.alias.clone();
        }
        let last = path.rsplit("::").next().unwrap_or(path);
        let mut alias = super::names::upper_camel(last);
        let mut n = 2;
        while self.user.iter().any(|u| u.alias == alias) {
            alias = format!("{}{n}", super::names::upper_camel(last));
            n += 1;
        }
        self.user.push(UserType {
            alias: alias.clone(),
            path: path.to_string(),
        });
        alias
    }
}

/// A type of the plan (user types written `T::Alias`, generic payloads
/// `msg::X<T>`) with `T` standing for `subject`, a path to an implementation
/// of `Types` (`Self::Types`, `C::Types`, `Defaults`).
pub fn bind(ty: &str, subject: &str) -> String {
    let mut out = String::with_capacity(ty.len() + 16);
    let mut prev: Option<char> = None;
    let mut rest = ty;
    while let Some(c) = rest.chars().next() {
        let starts_word = !prev.is_some_and(|p| p.is_alphanumeric() || p == '_');
        if starts_word && rest.starts_with("T::") {
            out.push_str(&format!("<{subject} as Types>::"));
            rest = &rest[3..];
            prev = Some(':');
        } else if prev == Some('<') && rest.starts_with("T>") {
            out.push_str(subject);
            out.push('>');
            rest = &rest[2..];
            prev = Some('>');
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            prev = Some(c);
        }
    }
    out
}

fn is_std(path: &str) -> bool {
    let path = path.trim_start_matches("::");
    let first = path.split("::").next().unwrap_or(path);
    matches!(first, "std" | "core" | "alloc") || (!path.contains("::") && STD_NAMES.contains(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_types_stay_and_user_types_become_associated_types() {
        let mut m = TypeMap::default();
        assert_eq!(m.rewrite("Vec<u8>"), ("Vec<u8>".into(), false));
        assert_eq!(m.rewrite("[u8; 32]"), ("[u8; 32]".into(), false));
        assert_eq!(
            m.rewrite("std::collections::BTreeMap<String, u64>"),
            ("std::collections::BTreeMap<String, u64>".into(), false)
        );
        assert_eq!(
            m.rewrite("crate::guardian_ceremony::CeremonyProposal"),
            ("T::CeremonyProposal".into(), true)
        );
        assert_eq!(
            m.rewrite("Vec<crate::a::Share>"),
            ("Vec<T::Share>".into(), true)
        );
        assert_eq!(m.rewrite("crate::b::Share"), ("T::Share2".into(), true));
        assert_eq!(
            m.rewrite("Option<(crate::a::Share, u8)>"),
            ("Option<(T::Share, u8)>".into(), true)
        );
        assert_eq!(m.rewrite("Digest"), ("T::Digest".into(), true));
        assert_eq!(
            bind("Option<(T::Share, u8)>", "C::Types"),
            "Option<(<C::Types as Types>::Share, u8)>"
        );
        assert_eq!(bind("msg::Ack<T>", "Defaults"), "msg::Ack<Defaults>");
        assert_eq!(bind("MyT::X", "Defaults"), "MyT::X");
        let paths: Vec<&str> = m.user.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "crate::guardian_ceremony::CeremonyProposal",
                "crate::a::Share",
                "crate::b::Share",
                "Digest"
            ]
        );
    }
}
