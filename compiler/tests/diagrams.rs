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
