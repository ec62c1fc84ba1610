//! Large files are parsed in pieces on several threads; the result must be
//! exactly the sequential parse, spans included.

use choreoc::syntax::{parse, parse_in_pieces, parse_sequential};

/// A file of a few hundred KiB: a module line, a small protocol, a long
/// indented protocol whose top-level statements include nested blocks,
/// comments, wrapped annotation lists and attributes, then another protocol.
fn big_file(statements: usize, crlf: bool) -> String {
    let mut s = String::from("-- generated\nmodule big exposing (Small, Long, After)\n\nprotocol Small =\n  roles A, B\n  A -> B : Hi\n\nprotocol Long =\n  roles C, W[N], Obs\n");
    for i in 0..statements {
        match i % 7 {
            0 => s += &format!("  C[flow_cost = {i}, guard_capability = \"cap:{i}\"] -> W[*] : Task{i}(crate::t::Task)\n"),
            1 => s += &format!("  @parallel\n  W[*] -> C : Done{i}(ok: bool, digest: [u8; 32])\n"),
            2 => s += &format!("  case choose C of\n    Go{i} ->\n      C -> Obs : Go{i}\n    Stop{i} -> C -> Obs : Stop{i}\n"),
            3 => s += &format!("  -- a comment between statements\n\n  C[leak = \"External\",\n    flow_cost = 1] -> Obs : Wrapped{i}\n"),
            4 => s += &format!("  loop repeat 2\n    C -> W[0] : Ping{i}\n    W[0] -> C : Pong{i} {{- block comment -}}\n"),
            5 => s += &format!("  for w in W\n    C -> W[w] : Each{i}\n"),
            _ => s += &format!("  Obs -> C : Note{i}\n"),
        }
    }
    s += "\nprotocol After =\n  roles X, Y\n  X -> Y : Bye\n";
    if crlf {
        s = s.replace('\n', "\r\n");
    }
    s
}

#[test]
fn parallel_parse_equals_sequential_parse() {
    for crlf in [false, true] {
        let src = big_file(6000, crlf);
        assert!(
            src.len() > 256 * 1024,
            "large enough to be split: {}",
            src.len()
        );
        let sequential = parse_sequential(&src).expect("parses");
        let parallel = parse(&src).expect("parses");
        assert_eq!(parallel, sequential);
        for pieces in [2, 3, 8] {
            let split = parse_in_pieces(&src, pieces).expect("a long body is split");
            assert_eq!(split, sequential, "{pieces} pieces");
        }
        assert_eq!(parallel.protocols.len(), 3);
        assert_eq!(parallel.protocols[1].body.len(), 6000);
        let last = parallel.protocols[1].span;
        assert!(src[last.start..last.end].starts_with("protocol Long"));
        let text = &src[last.start..last.end];
        assert!(
            text.contains("Task5999(") && !text.contains("protocol After"),
            "the span covers the body"
        );
    }
}

#[test]
fn errors_in_a_large_file_are_the_sequential_ones() {
    let mut src = big_file(6000, false);
    let at = src.find("Ping3007").expect("statement present");
    src.replace_range(at..at + 8, "Ping 3007 extra");
    let parallel = parse(&src).expect_err("syntax error");
    let sequential = parse_sequential(&src).expect_err("syntax error");
    assert_eq!(parallel, sequential);
    assert!(
        parse_in_pieces(&src, 2).is_none(),
        "a failing piece is not patched over"
    );
}
