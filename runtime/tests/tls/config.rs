//! The node configuration file: a good file loads (relative paths resolved
//! against its folder, defaults filled in) and round-trips; each kind of bad
//! file is a typed error naming the file and the problem.

use std::path::Path;
use std::time::Duration;

use choreo_runtime::transport::contract::NodeId;
use choreo_runtime::transport::tls::{
    ConfigProblem, ExpectedIdentity, GeneratedIdentity, NodeConfig, TlsError, TlsTransport,
};

use crate::harness::{scratch, Recorder};

const FINGERPRINT: &str = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn good() -> String {
    format!(
        r#"
name = "alice"
listen = "127.0.0.1:0"
certificate = "alice.pem"
private_key = "keys/alice.key"
max_frame = 65536

[timeouts]
keepalive_interval_ms = 250
keepalive_timeout_ms = 1000

[protocol]
version = "1.2.0"
min_version = "1.1.0"
capabilities = ["fact_journal", "version_handshake"]

[[peer]]
name = "carol"
address = "127.0.0.1:7003"
certificate = "/etc/choreo/carol.pem"

[[peer]]
name = "bob"
address = "127.0.0.1:7002"
fingerprint = "{FINGERPRINT}"
"#
    )
}

fn problem(text: &str) -> ConfigProblem {
    let err = NodeConfig::parse(text, Path::new("conf/alice.toml"), Path::new("conf")).unwrap_err();
    assert_eq!(err.file, Path::new("conf/alice.toml"));
    assert!(err.to_string().starts_with("conf/alice.toml: "), "{err}");
    err.problem
}

#[test]
fn a_good_file_loads_with_paths_resolved_and_defaults_filled_in() {
    let config =
        NodeConfig::parse(&good(), Path::new("conf/alice.toml"), Path::new("conf")).unwrap();
    assert_eq!(config.name, NodeId::new("alice"));
    assert_eq!(config.certificate, Path::new("conf/alice.pem"));
    assert_eq!(config.private_key, Path::new("conf/keys/alice.key"));
    assert_eq!(config.max_frame, 65536);
    assert_eq!(
        config.timeouts.keepalive_interval,
        Duration::from_millis(250)
    );
    assert_eq!(config.timeouts.handshake, Duration::from_secs(5), "default");
    assert_eq!(config.protocol.version.to_string(), "1.2.0");
    assert_eq!(config.protocol.capabilities.len(), 2);
    let names: Vec<_> = config.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["bob", "carol"], "sorted by name");
    assert_eq!(
        config.peers[0].identity,
        ExpectedIdentity::Fingerprint(FINGERPRINT.parse().unwrap())
    );
    assert_eq!(
        config.peers[1].identity,
        ExpectedIdentity::Certificate("/etc/choreo/carol.pem".into())
    );
    // Written back and read again, it is the same configuration.
    let again = NodeConfig::parse(&config.to_toml(), Path::new("x.toml"), Path::new("")).unwrap();
    assert_eq!(again, config);
}

#[test]
fn a_missing_file_names_the_file() {
    let err = NodeConfig::load("/nonexistent/node.toml").unwrap_err();
    assert_eq!(err.file, Path::new("/nonexistent/node.toml"));
    assert!(matches!(err.problem, ConfigProblem::Read(_)));
}

#[test]
fn each_bad_file_is_a_typed_problem() {
    let g = good();
    match problem("name = \"alice\"\nlisten = [") {
        ConfigProblem::Syntax(m) => assert!(m.contains("line 2"), "{m}"),
        other => panic!("{other:?}"),
    }
    match problem(&g.replace("max_frame", "max_frames")) {
        ConfigProblem::Syntax(m) => assert!(m.contains("max_frames"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        problem(&g.replace("\"alice\"", "\"al ice\"")),
        ConfigProblem::InvalidName("al ice".into())
    );
    assert_eq!(
        problem(&g.replace("\"carol\"", "\"bob\"")),
        ConfigProblem::DuplicatePeer("bob".into())
    );
    assert_eq!(
        problem(&g.replace("\"carol\"", "\"alice\"")),
        ConfigProblem::PeerIsSelf("alice".into())
    );
    assert_eq!(
        problem(&g.replace(
            "certificate = \"/etc",
            "fingerprint = \"x\"\ncertificate = \"/etc"
        )),
        ConfigProblem::PeerIdentity("carol".into())
    );
    assert!(matches!(
        problem(&g.replace(FINGERPRINT, "sha256:abc")),
        ConfigProblem::InvalidFingerprint { peer, .. } if peer == "bob"
    ));
    assert_eq!(
        problem(&g.replace("address = \"127.0.0.1:7002\"\n", "")),
        ConfigProblem::MissingAddress("bob".into())
    );
    assert_eq!(
        problem(&g.replace("65536", "0")),
        ConfigProblem::MaxFrame(0)
    );
    assert!(matches!(
        problem(&g.replace("= 1000", "= 200")),
        ConfigProblem::Timeout {
            field: "keepalive_timeout_ms",
            ..
        }
    ));
    assert!(matches!(
        problem(&g.replace("\"1.2.0\"", "\"1.2\"")),
        ConfigProblem::Version {
            field: "version",
            ..
        }
    ));
    assert!(matches!(
        problem(&g.replace("\"1.1.0\"", "\"1.3.0\"")),
        ConfigProblem::MinimumAboveVersion { .. }
    ));
}

#[test]
fn a_lower_peer_needs_no_address() {
    let text = good()
        .replace("name = \"alice\"", "name = \"zoe\"")
        .replace("address = \"127.0.0.1:7002\"\n", "");
    let config = NodeConfig::parse(&text, Path::new("zoe.toml"), Path::new("")).unwrap();
    assert!(!config.dials(&NodeId::new("bob")));
}

#[tokio::test]
async fn unreadable_certificate_files_are_named_at_start() {
    let dir = scratch();
    let id = GeneratedIdentity::generate("alice").unwrap();
    let (cert, key) = (dir.path().join("alice.pem"), dir.path().join("alice.key"));
    id.write(&cert, &key).unwrap();
    std::fs::write(dir.path().join("broken.pem"), "not a certificate").unwrap();
    let text = "name = \"alice\"\nlisten = \"127.0.0.1:0\"\ncertificate = \"alice.pem\"\nprivate_key = \"missing.key\"\n".to_string();
    let path = dir.path().join("alice.toml");
    std::fs::write(&path, &text).unwrap();
    let config = NodeConfig::load(&path).unwrap();
    let (recorder, _) = Recorder::new();
    match TlsTransport::start(config, recorder.clone()) {
        Err(TlsError::Pem { path, .. }) => assert_eq!(path, dir.path().join("missing.key")),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("started without a key"),
    }
    let text = text.replace("missing.key", "alice.key")
        + "[[peer]]\nname = \"bob\"\naddress = \"127.0.0.1:1\"\ncertificate = \"broken.pem\"\n";
    std::fs::write(&path, text).unwrap();
    let config = NodeConfig::load(&path).unwrap();
    match TlsTransport::start(config, recorder) {
        Err(TlsError::Pem { path, problem }) => {
            assert_eq!(path, dir.path().join("broken.pem"));
            assert!(problem.contains("no certificate"), "{problem}");
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("started with a broken peer certificate"),
    }
}
