//! Diagrams: the Mermaid sequence diagram of every protocol matches its
//! reviewed golden file, and every diagram names each message in protocol
//! order. (CI renders every Graphviz file with `dot` and fails on warnings.)

use choreoc::emit::diagram;
use std::path::Path;

fn protocols() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols");
    choreoc::driver::find_sources(&[root]).expect("protocols/")
}

#[test]
fn mermaid_sequence_diagrams_match_the_reviewed_golden_files() {
    for path in protocols() {
        let unit = choreoc::driver::compile_path(&path).expect("readable");
        let module = unit.module.as_ref().expect("module");
        for (i, proj) in &unit.projections {
            let p = &module.protocols[*i];
            let text = diagram::sequence_mermaid(p, proj, "protocol.choreo");
            insta::assert_snapshot!(format!("mermaid_{}", p.name), text);
        }
    }
}

#[test]
fn every_message_appears_in_order_in_both_sequence_diagrams() {
    for path in protocols() {
        let unit = choreoc::driver::compile_path(&path).expect("readable");
        let module = unit.module.as_ref().expect("module");
        for (i, proj) in &unit.projections {
            let p = &module.protocols[*i];
            let mut labels = Vec::new();
            choreoc::check::rules::each_message(&p.body, &mut |m| labels.push(m.label.clone()));
            for text in [
                diagram::sequence_mermaid(p, proj, "x"),
                diagram::sequence_dot(p, proj, "x"),
            ] {
                let mut from = 0;
                for label in &labels {
                    let at = text[from..]
                        .find(label.as_str())
                        .unwrap_or_else(|| panic!("{}: {label} in order", p.name));
                    from += at + label.len();
                }
            }
        }
    }
}

#[test]
fn every_role_has_a_state_machine_ending_in_end() {
    for path in protocols() {
        let unit = choreoc::driver::compile_path(&path).expect("readable");
        let module = unit.module.as_ref().expect("module");
        for (i, proj) in &unit.projections {
            let files = diagram::files(&module.protocols[*i], proj, "x");
            assert_eq!(files.len(), 2 + proj.locals.len());
            for (name, text) in &files[2..] {
                assert!(text.contains("shape=doublecircle, label=\"end\""), "{name}");
            }
        }
    }
}

#[test]
fn the_readme_shows_the_generated_mermaid_diagram() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let mmd = std::fs::read_to_string(root.join("generated/diagrams/GuardianCeremony.mmd"))
        .expect("diagram");
    let body: Vec<&str> = mmd.lines().filter(|l| !l.starts_with("%%")).collect();
    let block = format!("```mermaid\n{}\n```", body.join("\n"));
    assert!(
        readme.contains(&block),
        "README.md's Mermaid block differs from the generated diagram"
    );
}

fn compiled(src: &str) -> choreoc::driver::Unit {
    let unit = choreoc::driver::compile("d.choreo", src.as_bytes());
    assert!(!unit.has_errors(), "{:?}", unit.diagnostics);
    unit
}

/// The Graphviz and Mermaid sequence diagrams of the first protocol of `unit`.
fn both(unit: &choreoc::driver::Unit) -> (String, String) {
    let module = unit.module.as_ref().expect("module");
    let (i, proj) = &unit.projections[0];
    let p = &module.protocols[*i];
    (
        diagram::sequence_dot(p, proj, "d.choreo"),
        diagram::sequence_mermaid(p, proj, "d.choreo"),
    )
}

/// For each line of a DOT text that contains `needle`, the labels of the
/// clusters around it, outermost first.
fn frames_around(dot: &str, needle: &str) -> Vec<Vec<String>> {
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in dot.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("subgraph cluster_") {
            let label = rest
                .split("label=\"")
                .nth(1)
                .and_then(|l| l.split('"').next())
                .unwrap_or_default();
            stack.push(label.to_string());
        } else if t == "}" {
            stack.pop();
        } else if t.contains(needle) {
            out.push(stack.clone());
        }
    }
    out
}

#[test]
fn frames_are_boxes_around_their_messages() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../protocols/recovery/guardian_ceremony.choreo");
    let unit = choreoc::driver::compile_path(&path).expect("readable");
    let (dot, _) = both(&unit);
    assert_eq!(
        frames_around(&dot, "KeyShareDelivery"),
        [vec![
            "alt".to_string(),
            "Commit [Initiator chooses]".into(),
            "loop for g in Guardian (@parallel)".into(),
            "alt".into(),
            "Deliver [Initiator chooses]".into(),
        ]]
    );
    assert_eq!(
        frames_around(&dot, "AbortCeremony"),
        [vec!["alt".to_string(), "Abort [Initiator chooses]".into()]]
    );
    assert_eq!(
        frames_around(&dot, "ProposeRotation"),
        [Vec::<String>::new()]
    );
}

#[test]
fn a_parallel_fan_out_is_marked_and_not_framed() {
    let unit = compiled(
        "protocol P =\n  roles A, W[N], C\n  @parallel\n  A -> W[*] : Ask\n  @parallel\n  W[*] -> A : Tell\n  A -> C : Done\n",
    );
    let (dot, mmd) = both(&unit);
    assert!(!dot.contains("subgraph cluster"), "{dot}");
    assert!(!mmd.contains("par "), "{mmd}");
    assert!(dot.contains("Ask\\n[to each of W[*] (@parallel)]"), "{dot}");
    assert!(
        dot.contains("Tell\\n[from each of W[*] (@parallel)]"),
        "{dot}"
    );
    assert!(
        mmd.contains("r0->>r1: Ask [to each of W[*] (@parallel)]"),
        "{mmd}"
    );
    // A fan is drawn with two lines; a message between single roles with one.
    let style = |label: &str| {
        dot.lines()
            .find(|l| l.contains(&format!("[label=\"{label}")))
            .map(|l| l.contains("black:invis:black"))
    };
    assert_eq!(style("Ask"), Some(true));
    assert_eq!(style("Tell"), Some(true));
    assert_eq!(style("Done"), Some(false));
}

#[test]
fn a_message_across_lifelines_is_a_straight_chain_of_segments() {
    let unit = compiled("protocol P =\n  roles A, B, C\n  A -> B : Hi\n  C -> A : Far\n");
    let (dot, _) = both(&unit);
    let far: Vec<&str> = dot
        .lines()
        .filter(|l| l.contains("_1 -> lane"))
        .filter(|l| !l.contains("invis"))
        .collect();
    assert_eq!(
        far,
        [
            "  lane2_1 -> lane1_1 [label=\"Far\", arrowhead=none];",
            "  lane1_1 -> lane0_1 [label=\"\"];",
        ]
    );
}

#[test]
fn keywords_as_names_never_become_identifiers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagrams/keywords.choreo");
    let unit = choreoc::driver::compile_path(&path).expect("readable");
    assert!(!unit.has_errors(), "{:?}", unit.diagnostics);
    let module = unit.module.as_ref().expect("module");
    let p = &module.protocols[0];
    let (dot, mmd) = both(&unit);
    let is_id =
        |s: &str| s.len() > 1 && s.starts_with('r') && s[1..].bytes().all(|b| b.is_ascii_digit());
    let mut ids = Vec::new();
    for line in mmd.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("participant ") {
            let (id, alias) = rest.split_once(" as ").expect("an alias");
            assert!(is_id(id), "participant id `{id}`");
            ids.push(id.to_string());
            assert!(
                p.roles.iter().any(|r| alias.starts_with(r.name.as_str())),
                "{alias}"
            );
        } else if let Some((arrow, _)) = line.split_once(": ") {
            if let Some((from, to)) = arrow.split_once("-->>").or_else(|| arrow.split_once("->>")) {
                let to = to.trim_start_matches('>');
                assert!(
                    ids.iter().any(|i| i == from) && ids.iter().any(|i| i == to),
                    "{line}"
                );
            }
        }
    }
    assert_eq!(ids.len(), p.roles.len());
    // In the Graphviz diagram a role's name is only ever inside a quoted
    // label: outside quotes there are only DOT's words and `laneN_...` ids.
    let code: Vec<&str> = dot
        .lines()
        .filter(|l| !l.trim().starts_with("//"))
        .collect();
    let mut outside = String::new();
    for (i, part) in code.join("\n").split('"').enumerate() {
        if i % 2 == 0 {
            outside.push_str(part);
            outside.push(' ');
        }
    }
    // Words of DOT itself that the fixture also uses as role names.
    let dot_words = ["digraph", "graph", "node", "edge", "subgraph", "box"];
    for r in p
        .roles
        .iter()
        .filter(|r| !dot_words.contains(&r.name.as_str()))
    {
        let found = outside
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == r.name);
        assert!(!found, "`{}` outside a quoted string:\n{dot}", r.name);
        assert!(dot.contains(&format!("label=\"{}", r.name)), "{}", r.name);
    }
}
