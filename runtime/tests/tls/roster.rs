//! The `[roster.PROTOCOL]` sections of a node configuration: a section loads,
//! round-trips and resolves into the roster and the peer this node plays;
//! each kind of bad section is a typed problem, on load or on resolution.

use std::path::Path;
use std::time::Duration;

use choreo_runtime::transport::tls::{ConfigProblem, NodeConfig, RosterProblem};
use choreo_runtime::{Digest, NodeId, Peer, Protocol, RoleDecl};

const FINGERPRINT: &str = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const OTHER: &str = "sha256:ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static CEREMONY: Protocol = Protocol {
    name: "Ceremony",
    digest: Digest([9; 16]),
    roles: &[
        RoleDecl {
            name: "Initiator",
            family: false,
        },
        RoleDecl {
            name: "Guardian",
            family: true,
        },
    ],
    labels: &[],
    capabilities: &[],
    facts: &[],
    guards: &[],
};

/// Guardian 1's node, with the Initiator and guardian 0 as peers.
fn good() -> String {
    format!(
        r#"
name = "g1"
listen = "127.0.0.1:0"
certificate = "g1.pem"
private_key = "g1.key"

[[peer]]
name = "init"
address = "127.0.0.1:7000"
fingerprint = "{FINGERPRINT}"

[[peer]]
name = "g0"
fingerprint = "{OTHER}"

[roster.Ceremony]
families = {{ Guardian = 2 }}
receive_timeout_ms = 2500

[roster.Ceremony.nodes]
Initiator = "init"
"Guardian[0]" = "g0"
"Guardian[1]" = "g1"
"#
    )
}

fn parse(text: &str) -> Result<NodeConfig, ConfigProblem> {
    NodeConfig::parse(text, Path::new("g1.toml"), Path::new("")).map_err(|e| e.problem)
}

#[test]
fn a_roster_section_loads_round_trips_and_resolves() {
    let config = parse(&good()).unwrap();
    let section = &config.rosters["Ceremony"];
    assert_eq!(section.families["Guardian"], 2);
    assert_eq!(section.receive_timeout, Some(Duration::from_millis(2500)));
    assert_eq!(section.nodes.len(), 3);
    let again = parse(&config.to_toml()).unwrap();
    assert_eq!(again, config, "written back and read again");

    let placement = config.placement(&CEREMONY).unwrap();
    assert_eq!(placement.plays, [Peer::member("Guardian", 1)]);
    assert_eq!(
        placement.others,
        [
            (Peer::role("Initiator"), NodeId::new("init")),
            (Peer::member("Guardian", 0), NodeId::new("g0")),
        ]
    );
    assert_eq!(placement.roster.family_size("Guardian"), Some(2));
    assert_eq!(
        placement.roster.node_of("Initiator", None),
        NodeId::new("init")
    );
    assert_eq!(placement.receive_timeout, Some(Duration::from_millis(2500)));
}

#[test]
fn bad_sections_are_typed_problems_on_load() {
    let g = good();
    assert_eq!(
        parse(&g.replace("\"Guardian[0]\" =", "\"Guardian[x]\" =")).unwrap_err(),
        ConfigProblem::RosterPeer {
            protocol: "Ceremony".into(),
            peer: "Guardian[x]".into()
        }
    );
    match parse(&g.replace("Initiator = \"init\"", "Initiator = \"mallory\"")).unwrap_err() {
        ConfigProblem::Roster { protocol, what } => {
            assert_eq!(protocol, "Ceremony");
            assert!(what.contains("node mallory"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(&g.replace("Guardian = 2", "Guardian = 0")).unwrap_err(),
        ConfigProblem::Roster { what, .. } if what.contains("no members")
    ));
    assert!(matches!(
        parse(&g.replace("= 2500", "= 0")).unwrap_err(),
        ConfigProblem::Roster { what, .. } if what.contains("receive_timeout_ms")
    ));
    assert!(matches!(
        parse(&g.replace("receive_timeout_ms", "receive_timeout")).unwrap_err(),
        ConfigProblem::Syntax(m) if m.contains("receive_timeout")
    ));
}

#[test]
fn sections_that_do_not_fit_the_protocol_are_typed_problems() {
    let resolve = |text: &str| parse(text).unwrap().placement(&CEREMONY).unwrap_err();
    let g = good();
    assert_eq!(
        resolve(
            &g.replace("[roster.Ceremony]", "[roster.Other]")
                .replace("[roster.Ceremony.nodes]", "[roster.Other.nodes]")
        ),
        RosterProblem::NoSection {
            protocol: "Ceremony".into()
        }
    );
    assert!(matches!(
        resolve(&g.replace("Initiator = \"init\"", "Initator = \"init\"")),
        RosterProblem::UnknownRole { name, .. } if name == "Initator"
    ));
    assert!(matches!(
        resolve(&g.replace("Guardian = 2", "Guardian = 2, Initiator = 1")),
        RosterProblem::NotAFamily { name, .. } if name == "Initiator"
    ));
    assert!(matches!(
        resolve(&g.replace("families = { Guardian = 2 }\n", "")),
        RosterProblem::NoSize { name, .. } if name == "Guardian"
    ));
    assert!(matches!(
        resolve(&g.replace("\"Guardian[0]\" = \"g0\"", "Guardian = \"g0\"")),
        RosterProblem::MemberNeeded { name, .. } if name == "Guardian"
    ));
    assert!(matches!(
        resolve(&g.replace("\"Guardian[0]\" =", "\"Guardian[2]\" =")),
        RosterProblem::MemberOutOfRange { size: 2, .. }
    ));
    // Guardian[0] not listed: it runs on the node named `Guardian[0]`, which
    // is not a peer of this node.
    assert!(matches!(
        resolve(&g.replace("\"Guardian[0]\" = \"g0\"\n", "")),
        RosterProblem::UnknownNode { peer, node, .. }
            if peer == "Guardian[0]" && node == NodeId::new("Guardian[0]")
    ));
    assert!(matches!(
        resolve(&g.replace("\"Guardian[1]\" = \"g1\"", "\"Guardian[1]\" = \"g0\"")),
        RosterProblem::PlaysNothing { node, .. } if node == NodeId::new("g1")
    ));
}
