//! Rust names for protocol names, roles, labels and fields.

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

/// A name usable as a Rust identifier: keywords get a trailing `_`.
pub fn ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
        "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super",
        "trait", "true", "type", "unsafe", "use", "where", "while", "abstract", "become", "box",
        "do", "final", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
    ];
    if KEYWORDS.contains(&name) {
        format!("{name}_")
    } else {
        name.to_string()
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
}
