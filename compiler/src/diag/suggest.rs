//! "Did you mean ...?": the closest known name to a misspelled one.

/// The candidate closest to `name`, if one is close enough to be a likely
/// misspelling: the same name in another case, or one within `len / 3`
/// edits (insertions, deletions, substitutions and swaps of neighbours,
/// ignoring case), so names shorter than three characters only match in
/// another case. Ties go to the earlier candidate.
pub fn closest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = name.to_ascii_lowercase();
    let limit = name.chars().count() / 3;
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let distance = strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `did you mean `X`?` for the closest candidate, if any.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn finds_typos_and_case_differences() {
        let roles = ["Coordinator", "Worker", "Guardian"];
        assert_eq!(closest("Coordinater", roles), Some("Coordinator"));
        assert_eq!(closest("coordinator", roles), Some("Coordinator"));
        assert_eq!(closest("Wrker", roles), Some("Worker"));
        assert_eq!(
            closest("Guradian", roles),
            Some("Guardian"),
            "a swap is one edit"
        );
        assert_eq!(
            closest(
                "flow_cst",
                ["guard_capability", "flow_cost", "leak", "leakage_budget"]
            ),
            Some("flow_cost")
        );
    }

    #[test]
    fn unrelated_names_get_no_suggestion() {
        let roles = ["Coordinator", "Worker"];
        assert_eq!(closest("Auditor", roles), None);
        assert_eq!(
            closest("C", ["A", "B"]),
            None,
            "short names only match in another case"
        );
        assert_eq!(closest("a", ["A", "B"]), Some("A"));
        assert_eq!(
            closest("priority", ["flow_cost", "leak", "audit_log"]),
            None
        );
        assert_eq!(
            closest("Worker", ["Worker"]),
            None,
            "the name itself is no suggestion"
        );
    }

    #[test]
    fn the_closest_wins() {
        assert_eq!(closest("Workr", ["Worke", "Worker"]), Some("Worke"));
        assert_eq!(closest("Workerss", ["Workers", "Worker"]), Some("Workers"));
    }
}
