//! Names in generated code that users write in their own code: they must
//! not change when an unrelated part of the protocol changes. Decision
//! methods of `loop decide by` are named after the first label of the
//! loop's body, not its position.

use choreoc::driver::compile;
use choreoc::emit::rust::plan::plan;

/// The decision methods of role `role` in the (only) protocol of `src`.
fn loop_methods(src: &str, role: &str) -> Vec<String> {
    let unit = compile("p.choreo", src.as_bytes());
    assert!(!unit.has_errors(), "{:?}", unit.diagnostics);
    let module = unit.module.as_ref().expect("compiles");
    let (i, projection) = &unit.projections[0];
    let protocol = &module.protocols[*i];
    let r = protocol
        .roles
        .iter()
        .position(|x| x.name == role)
        .expect("role");
    let plan = plan(protocol, projection);
    plan.roles[r]
        .methods
        .iter()
        .filter(|m| m.kind == "loop")
        .map(|m| m.name.clone())
        .collect()
}

const ONE: &str = "protocol P =
  roles A, B
  loop decide by A
    A -> B : Ping
    B -> A : Pong
";

const EARLIER_LOOP_ADDED: &str = "protocol P =
  roles A, B
  loop decide by A
    A -> B : Status
  loop decide by A
    A -> B : Ping
    B -> A : Pong
";

#[test]
fn a_loop_keeps_its_method_when_another_loop_is_added_before_it() {
    assert_eq!(loop_methods(ONE, "A"), ["another_ping_round"]);
    assert_eq!(
        loop_methods(EARLIER_LOOP_ADDED, "A"),
        ["another_status_round", "another_ping_round"]
    );
}

#[test]
fn loops_starting_with_the_same_label_are_numbered_in_source_order() {
    let src = "protocol P =
  roles A, B, C
  loop decide by A
    A -> B : Ping
  loop decide by C
    C -> B : Tick
  loop decide by A
    A -> B : Ping
    B -> A : Pong
";
    assert_eq!(
        loop_methods(src, "A"),
        ["another_ping_round", "another_ping_round_2"]
    );
    assert_eq!(loop_methods(src, "C"), ["another_tick_round"]);
}

#[test]
fn the_first_label_is_the_first_message_in_the_source_even_inside_a_choice() {
    let src = "protocol P =
  roles A, B
  loop decide by A
    case choose A of
      Go ->
        A -> B : Go
      Wait ->
        A -> B : Wait
";
    assert_eq!(loop_methods(src, "A"), ["another_go_round"]);
}
