//! `choreoc breaking`: golden cases of each category (every case names the
//! categories it must produce; the findings themselves are reviewed
//! snapshots), and its promises: a version compared with itself has no
//! findings, formatting changes nothing, a wire-breaking change is found in
//! both directions, and the API items it compares are those the emitter
//! declares.

use choreoc::breaking::{compare, Category, Finding, Version};
use choreoc::driver::compile;
use proptest::prelude::*;
use std::path::Path;

mod gen;

const BASE: &str = "\
module shop exposing (Shop)

protocol Shop =
  roles Buyer, Seller, Shipper, Bank[N]

  Buyer -> Seller : Hello
  Shipper -> Bank[*] : Notice
  Buyer[flow_cost = 5] -> Seller : Order(item: u64, qty: u32)
  Seller -> Buyer : Quote(crate::shop::Quote)
  case choose Buyer of
    Accept ->
      Buyer -> Seller : Accept
      Seller[guard_capability = \"ship\"] -> Shipper : Ship(crate::shop::Parcel)
      @parallel
      Seller -> Bank[*] : Settle(amount: u64)
      Bank[*] -> Seller : Settled
    Reject ->
      Buyer -> Seller : Reject
      Seller -> Shipper : Cancel
      Seller -> Bank[*] : Void
  loop decide by Buyer
    Buyer -> Seller : Ping
    Seller -> Buyer : Pong
  loop repeat Rounds
    Shipper -> Buyer : Track(u32)
  for b in Bank
    Seller -> Bank[b] : Receipt
  Seller -> Bank[0] : Audit
";

const LATER: &str = "    Later ->\n      Buyer -> Seller : Later\n      Seller -> Shipper : Cancel\n      Seller -> Bank[*] : Void\n";

fn version(src: &str) -> Version {
    let unit = compile("shop.choreo", src.as_bytes());
    assert!(!unit.has_errors(), "{:?}\n{src}", unit.diagnostics);
    Version { units: vec![unit] }
}

fn findings(old: &str, new: &str) -> Vec<Finding> {
    compare(&version(old), &version(new)).expect("compares")
}

fn edit(src: &str, edits: &[(&str, &str)]) -> String {
    let mut out = src.to_string();
    for (from, to) in edits {
        assert!(out.contains(from), "`{from}` not in the protocol");
        out = out.replacen(from, to, 1);
    }
    out
}

fn listing(fs: &[Finding], new: &str) -> String {
    let file = choreoc::diag::SourceFile::new("new", new.to_string());
    fs.iter()
        .map(|f| {
            let at = f.new.as_ref().map_or("-".into(), |s| {
                let lc = file.line_col(s.span.start);
                format!("{}:{}", lc.line, lc.column)
            });
            format!(
                "  {} {:10} {:8} {at:6} {}\n",
                f.category.code().as_str(),
                f.category.as_str(),
                f.role.as_deref().unwrap_or("-"),
                f.message
            )
        })
        .collect()
}

use Category::{Api, Compatible, Wire};

/// A golden case: name, edits of the base, the categories found.
type Case = (&'static str, Vec<(&'static str, String)>, Vec<Category>);

fn cases() -> Vec<Case> {
    let s = |a: &'static str, b: &str| (a, b.to_string());
    vec![
        ("wire_label_renamed", vec![s("Quote(crate", "Offer(crate")], vec![Wire]),
        ("wire_payload_type", vec![s("Track(u32)", "Track(u64)")], vec![Wire]),
        ("wire_field_type", vec![s("qty: u32", "qty: u64")], vec![Wire]),
        ("wire_user_type_path", vec![s("crate::shop::Quote", "crate::shop::Offer")], vec![Wire]),
        ("wire_direction", vec![s("Seller -> Buyer : Quote", "Buyer -> Seller : Quote")], vec![Wire]),
        (
            "wire_order",
            vec![
                s("  Buyer[flow_cost = 5] -> Seller : Order(item: u64, qty: u32)\n  Seller -> Buyer : Quote(crate::shop::Quote)\n",
                  "  Seller -> Buyer : Quote(crate::shop::Quote)\n  Buyer[flow_cost = 5] -> Seller : Order(item: u64, qty: u32)\n"),
            ],
            vec![Wire],
        ),
        ("wire_branch_added", vec![s("    Reject ->\n", &format!("{LATER}    Reject ->\n"))], vec![Wire]),
        ("wire_message_added", vec![s("  Seller -> Bank[0] : Audit\n", "  Seller -> Bank[0] : Audit\n  Buyer -> Seller : Thanks\n")], vec![Wire]),
        ("wire_message_in_branch_removed", vec![s("      Seller -> Bank[*] : Void\n", ""), s("      @parallel\n      Seller -> Bank[*] : Settle(amount: u64)\n      Bank[*] -> Seller : Settled\n", "")], vec![Wire]),
        ("wire_loop_label", vec![s("Buyer -> Seller : Ping", "Buyer -> Seller : Ping2")], vec![Wire]),
        ("wire_loop_decider", vec![s("loop decide by Buyer", "loop decide by Seller")], vec![Wire]),
        ("wire_repeat_count", vec![s("loop repeat Rounds", "loop repeat 3")], vec![Wire]),
        ("wire_member_index", vec![s("Bank[0] : Audit", "Bank[1] : Audit")], vec![Wire]),
        ("wire_family_fixed", vec![s("Bank[N]", "Bank[3]")], vec![Wire]),
        (
            "wire_role_added",
            vec![s("Bank[N]\n", "Bank[N], Auditor\n"), s("  Seller -> Bank[0] : Audit\n", "  Seller -> Bank[0] : Audit\n  Seller -> Auditor : Log\n")],
            vec![Wire],
        ),
        ("wire_chooser_family_round", vec![s("  for b in Bank\n    Seller -> Bank[b] : Receipt\n", "  Seller -> Bank[*] : Receipt\n")], vec![Wire]),
        ("api_field_renamed", vec![s("qty: u32", "count: u32")], vec![Api]),
        ("api_branch_label", vec![s("    Accept ->\n", "    Agree ->\n")], vec![Api]),
        ("api_param_renamed", vec![s("loop repeat Rounds", "loop repeat Laps")], vec![Api]),
        ("api_payload_becomes_struct", vec![s("Track(u32)", "Track(position: u32)")], vec![Api]),
        ("api_roles_reordered", vec![s("roles Buyer, Seller,", "roles Seller, Buyer,")], vec![Api]),
        ("compatible_flow_cost_raised", vec![s("flow_cost = 5", "flow_cost = 10")], vec![Compatible]),
        ("compatible_capability_added", vec![s("guard_capability = \"ship\"", "guard_capability = \"ship,pack\"")], vec![Compatible]),
        ("compatible_parallel_removed", vec![s("      @parallel\n", "")], vec![Compatible]),
        (
            "compatible_journal_and_budget",
            vec![s("Buyer -> Seller : Hello", "Buyer[journal_facts = \"Hi\", leakage_budget = [0, 1, 0], leak = \"Neighbor\"] -> Seller : Hello")],
            vec![Compatible],
        ),
        ("compatible_family_size_name", vec![s("Bank[N]", "Bank[*]")], vec![Compatible]),
        ("nothing_comments_and_layout", vec![s("  Buyer -> Seller : Hello\n", "  -- greet\n  Buyer  ->  Seller:Hello -- hi\n")], vec![]),
        (
            "nothing_independent_messages_swapped",
            vec![s("  Buyer -> Seller : Hello\n  Shipper -> Bank[*] : Notice\n", "  Shipper -> Bank[*] : Notice\n  Buyer -> Seller : Hello\n")],
            vec![],
        ),
        ("nothing_for_variable_renamed", vec![s("for b in Bank\n    Seller -> Bank[b]", "for k in Bank\n    Seller -> Bank[k]")], vec![]),
        ("nothing_choice_at_synonym", vec![s("case choose Buyer of", "choice at Buyer")], vec![]),
        ("nothing_unit_payload_spelled_empty", vec![s("Seller : Hello", "Seller : Hello()")], vec![]),
    ]
}

#[test]
fn golden_cases_of_each_category() {
    let mut all = String::new();
    let cases = cases();
    assert!(cases.len() >= 25);
    for (name, edits, expected) in &cases {
        let edits: Vec<(&str, &str)> = edits.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let new = edit(BASE, &edits);
        let fs = findings(BASE, &new);
        let mut got: Vec<Category> = fs.iter().map(|f| f.category).collect();
        got.dedup();
        assert_eq!(&got, expected, "{name}:\n{}", listing(&fs, &new));
        for f in &fs {
            assert!(f.new.is_some() && f.old.is_some(), "{name}: {f:?}");
        }
        all.push_str(&format!("{name}\n{}", listing(&fs, &new)));
    }
    insta::assert_snapshot!("breaking_golden", all);
}

#[test]
fn a_wire_break_and_its_reverse_are_both_found() {
    for (name, edits, expected) in cases() {
        if expected != [Wire] {
            continue;
        }
        let edits: Vec<(&str, &str)> = edits.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let new = edit(BASE, &edits);
        let back = findings(&new, BASE);
        assert!(
            back.iter().any(|f| f.category == Wire),
            "{name}, reversed:\n{}",
            listing(&back, BASE)
        );
    }
}

#[test]
fn a_removed_protocol_is_wire_breaking() {
    let two = format!("{BASE}\nprotocol Extra =\n  roles A, B\n  A -> B : M\n")
        .replace("exposing (Shop)", "exposing (Shop, Extra)");
    let fs = findings(&two, BASE);
    assert_eq!(fs.len(), 1, "{fs:?}");
    assert_eq!(
        (fs[0].category, fs[0].message.as_str()),
        (Wire, "protocol `Extra` is removed")
    );
    assert!(fs[0].new.is_none() && fs[0].old.is_some());
    assert!(
        findings(BASE, &two).is_empty(),
        "adding a protocol breaks nothing"
    );
}

fn corpus() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files =
        choreoc::driver::find_sources(&[root.join("protocols"), root.join("tests/fixtures")])
            .expect("corpus");
    files.retain(|p| !p.components().any(|c| c.as_os_str() == "generated"));
    files
}

#[test]
fn every_corpus_protocol_is_compatible_with_itself_and_its_formatting() {
    for path in corpus() {
        let src = std::fs::read_to_string(&path).expect("read");
        let name = path.display().to_string();
        let v = || Version {
            units: vec![compile(&name, src.as_bytes())],
        };
        let fs = compare(&v(), &v()).expect("compares");
        assert!(fs.is_empty(), "{name}: {fs:?}");
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
        let formatted = choreoc::fmt::format(&src, stem).expect("formats");
        let f = Version {
            units: vec![compile(&name, formatted.as_bytes())],
        };
        assert!(compare(&v(), &f).expect("compares").is_empty(), "{name}");
    }
}

#[test]
fn the_api_items_compared_are_declared_by_the_emitter() {
    use choreoc::emit::rust::{render, RuntimeDep};
    let mut checked = 0;
    let mut sources: Vec<(String, String)> = corpus()
        .iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(p).expect("read"),
            )
        })
        .collect();
    sources.push(("shop.choreo".into(), BASE.into()));
    for (name, src) in sources {
        let unit = compile(&name, src.as_bytes());
        let module = unit.module.as_ref().expect("compiles");
        for (i, proj) in &unit.projections {
            let p = &module.protocols[*i];
            let files = render(
                p,
                proj,
                "x.choreo",
                &|_| 1,
                &RuntimeDep::Version("0.1".into()),
            );
            let lib: String = files
                .iter()
                .map(|f| f.content.replace(char::is_whitespace, ""))
                .collect();
            for (key, _item) in choreoc::breaking::api::surface(p, proj) {
                let (kind, rest) = key.split_once(' ').expect("kind name");
                let name = rest.rsplit("::").next().unwrap_or(rest);
                let want = match kind {
                    "fn" => format!("fn{name}(&mutself"),
                    "struct" => format!("pubstruct{name}"),
                    "enum" if rest == "Role" => "pubenumRole".to_string(),
                    "enum" => format!("pubenum{name}"),
                    "type" => format!("type{name}:"),
                    "field" => format!("pub{name}:u64"),
                    _ => panic!("unknown item kind {key}"),
                };
                let want = want.replace(char::is_whitespace, "");
                assert!(
                    lib.contains(&want),
                    "{}: `{key}` ({want}) is not in the generated crate",
                    p.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} items");
}

/// Renames label `M{k}` of a generated protocol (labels are unique there).
fn rename_label(src: &str, k: usize) -> Option<String> {
    let from = format!(": M{k}\n");
    src.contains(&from)
        .then(|| src.replacen(&from, &format!(": Z{k}\n"), 1))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn generated_protocols_are_compatible_with_themselves(seed in any::<u64>()) {
        let src = gen::generate(seed);
        let fs = compare(&version(&src), &version(&src)).expect("compares");
        prop_assert!(fs.is_empty(), "{fs:?}\n{src}");
        let formatted = choreoc::fmt::format(&src, "gen").expect("formats");
        prop_assert!(compare(&version(&src), &version(&formatted)).expect("compares").is_empty());
    }

    #[test]
    fn a_renamed_or_retyped_message_breaks_the_wire_both_ways(seed in any::<u64>(), k in 1usize..12, retype in any::<bool>()) {
        let src = gen::generate(seed);
        let changed = if retype {
            let from = format!(": M{k}\n");
            src.contains(&from).then(|| src.replacen(&from, &format!(": M{k}(u8)\n"), 1))
        } else {
            rename_label(&src, k)
        };
        if let Some(changed) = changed {
            let there = compare(&version(&src), &version(&changed)).expect("compares");
            let back = compare(&version(&changed), &version(&src)).expect("compares");
            prop_assert!(there.iter().any(|f| f.category == Wire), "{there:?}\n{changed}");
            prop_assert!(back.iter().any(|f| f.category == Wire), "{back:?}\n{changed}");
        }
    }
}
