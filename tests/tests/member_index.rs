//! A family member's code is told its own index before anything else: the
//! generated runner calls the role trait's `joined(index)` first, whether
//! the member is singled out by the protocol (`Worker[0]`, `Worker[1..3]`)
//! or one of the others, and a single role is told nothing.

use choreo_e2e::{compile, decisions_of, peer_in, roster_of};
use choreo_fixture::scripted::{self, Script};
use choreo_runtime::{MemoryNetwork, RoleContext};
use choreoc::simulate::{simulate, Config};
use futures_util::future::join_all;

#[tokio::test]
async fn every_member_is_told_its_index_first() {
    let (protocol, projection) = compile("tests/fixtures/fixture.choreo");
    // Five workers: 0, 1 and 2 are singled out, 3 and 4 are not.
    let config = Config {
        default_family_size: 5,
        max_paths: 1,
        ..Config::default()
    };
    let report = simulate(&protocol, &projection, &config);
    let path = &report.paths[0];
    let roster = roster_of(&report.processes);
    let net = MemoryNetwork::new();
    let nodes: Vec<_> = report
        .processes
        .iter()
        .map(|p| net.node(p).expect("node"))
        .collect();
    let id = nodes[0].new_session_id();
    let mut ctxs: Vec<RoleContext> = nodes
        .iter()
        .map(|_| {
            RoleContext::new()
                .with_capabilities(scripted::CAPABILITIES.iter().copied())
                .with_default_budget(1 << 40)
        })
        .collect();
    let mut scripts: Vec<Script> = report
        .processes
        .iter()
        .map(|p| Script::new(decisions_of(&path.decisions, p)))
        .collect();
    let params = scripted::params(2);
    let mut runs = Vec::new();
    for (((p, node), ctx), script) in report
        .processes
        .iter()
        .zip(&nodes)
        .zip(&mut ctxs)
        .zip(&mut scripts)
    {
        let peer = peer_in(&choreo_fixture::PROTOCOL, p);
        let role = choreo_fixture::Role::ALL
            .into_iter()
            .find(|r| r.name() == peer.name())
            .expect("a role of the protocol");
        let session = node
            .session(&choreo_fixture::PROTOCOL, id, &roster, peer, ctx)
            .expect("session");
        runs.push(choreo_fixture::execute_as(
            script.play(role),
            session,
            &params,
        ));
    }
    for (p, outcome) in report.processes.iter().zip(join_all(runs).await) {
        outcome.unwrap_or_else(|e| panic!("{p} runs to the end: {e}"));
    }
    let told: Vec<(String, Option<u32>)> = report
        .processes
        .iter()
        .zip(&scripts)
        .map(|(p, s)| (p.clone(), s.member))
        .collect();
    let expected: Vec<(String, Option<u32>)> = report
        .processes
        .iter()
        .map(|p| {
            let index = p
                .strip_prefix("Worker[")
                .map(|k| k.trim_end_matches(']').parse().expect("index"));
            (p.clone(), index)
        })
        .collect();
    assert_eq!(told, expected);
    assert_eq!(
        told.iter().filter(|(_, k)| k.is_some()).count(),
        5,
        "{told:?}"
    );
}
