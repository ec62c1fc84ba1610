//! GuardianCeremony with every role in its own OS process: `choreo-role`
//! over mutual TLS on 127.0.0.1, certificates made at run time.
//!
//! A ceremony of four processes commits; a guardian process killed with
//! SIGKILL in the middle of a ceremony ends the Initiator with "peer gone"
//! and the other guardians with "cancelled", nobody hangs, and once the
//! guardian is restarted the next ceremony commits. Every wait is bounded by
//! [`PATIENCE`] (a hang guard, not a performance assertion); the time from
//! the kill to each failure is printed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use choreo_runtime::transport::tls::testing::{Cluster, NodeProcess};
use choreo_runtime::transport::tls::{PeerName, RosterConfig, Timeouts};
use choreo_runtime::NodeId;
use tokio::time::Instant;

const PATIENCE: Duration = Duration::from_secs(30);
const PROGRAM: &str = env!("CARGO_BIN_EXE_choreo-role");

/// The four nodes, and a roster section binding each peer to its node.
fn cluster(dir: &Path) -> Cluster {
    let names = ["guardian-0", "guardian-1", "guardian-2", "initiator"];
    let mut cluster = Cluster::generate(dir, &names).expect("certificates");
    let mut nodes = BTreeMap::new();
    nodes.insert(
        PeerName {
            role: "Initiator".into(),
            member: None,
        },
        NodeId::new("initiator"),
    );
    for k in 0..3 {
        let peer = PeerName {
            role: "Guardian".into(),
            member: Some(k),
        };
        nodes.insert(peer, NodeId::new(format!("guardian-{k}")));
    }
    let roster = RosterConfig {
        families: BTreeMap::from([("Guardian".to_string(), 3)]),
        nodes,
        receive_timeout: Some(Duration::from_secs(20)),
    };
    cluster.configure(|c| {
        // A stopped process stops pinging: the keep-alive must outlast the
        // moment the test keeps one stopped before killing it.
        c.timeouts = Timeouts {
            connect: Duration::from_secs(20),
            handshake: Duration::from_secs(2),
            keepalive_interval: Duration::from_millis(200),
            keepalive_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
        };
        c.rosters.insert("GuardianCeremony".into(), roster.clone());
    });
    cluster
}

fn args(ceremonies: u32) -> Vec<OsString> {
    let n = ceremonies.to_string();
    let wait = PATIENCE.as_millis().to_string();
    [
        "--protocol",
        "guardian-ceremony",
        "--demo-seed",
        "test",
        "--ceremonies",
        &n,
        "--wait-ms",
        &wait,
    ]
    .iter()
    .map(Into::into)
    .collect()
}

async fn spawn(cluster: &mut Cluster, name: &str, ceremonies: u32) -> NodeProcess {
    cluster
        .spawn(name, Path::new(PROGRAM), args(ceremonies), PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{name} starts: {e}"))
}

/// The next line of `process` containing `part`.
async fn line(process: &mut NodeProcess, part: &str) -> String {
    match process.line_where(PATIENCE, |l| l.contains(part)).await {
        Some(line) => line,
        None => panic!(
            "{}: no line with {part:?} in:\n{}",
            process.name,
            process.transcript().join("\n")
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceremony_between_four_processes_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path());
    let started = cluster
        .spawn_all(Path::new(PROGRAM), |_| args(1), PATIENCE)
        .await
        .expect("four processes");
    for (name, process) in started {
        let finished = process.wait(PATIENCE).await.expect("exits in time");
        let transcript = finished.transcript.join("\n");
        assert!(finished.status.success(), "{name}:\n{transcript}");
        let expected = if name.as_str() == "initiator" {
            "Initiator: ceremony 1: outcome committed epoch 8; accepted by Guardian[0] Guardian[1] Guardian[2]; shares installed by Guardian[0] Guardian[1] Guardian[2]"
        } else {
            "outcome installed share"
        };
        assert!(transcript.contains(expected), "{name}:\n{transcript}");
    }
}

/// Sends `signal` (`STOP`) to `process` with kill(1).
fn signal(process: &NodeProcess, signal: &str) {
    let pid = process.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_killed_mid_ceremony_fails_the_others_and_a_restart_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path());
    // Greatest name first: each node's configuration has the addresses it dials.
    let mut initiator = spawn(&mut cluster, "initiator", 2).await;
    let mut g2 = spawn(&mut cluster, "guardian-2", 2).await;
    let mut g1 = spawn(&mut cluster, "guardian-1", 1).await;
    // Guardian[1] is linked to the Initiator, then frozen: the ceremony that
    // starts once Guardian[0] is up too cannot finish without it.
    line(&mut g1, "up initiator").await;
    signal(&g1, "STOP");
    let mut g0 = spawn(&mut cluster, "guardian-0", 2).await;
    line(&mut g0, "ceremony 1: session").await;
    line(&mut g2, "ceremony 1: session").await;

    // Mid-ceremony: Guardians 0 and 2 have the proposal, Guardian[1] never answers.
    let killed = Instant::now();
    g1.kill().await.expect("SIGKILL");
    let failed = line(&mut initiator, "ceremony 1: failed").await;
    let initiator_after = killed.elapsed();
    assert!(
        failed.contains("failed (peer-gone)") && failed.contains("peer Guardian[1]"),
        "{failed}"
    );
    let mut after = Vec::new();
    for g in [&mut g0, &mut g2] {
        let failed = line(g, "ceremony 1: failed").await;
        after.push(killed.elapsed());
        assert!(
            failed.contains("failed (cancelled): cancelled by Initiator: ")
                && failed.contains("peer has gone"),
            "{failed}"
        );
    }
    eprintln!(
        "from SIGKILL to the failure: Initiator {initiator_after:?}, Guardian[0] {:?}, Guardian[2] {:?} (keep-alive bound 10 s, receive timeout 20 s)",
        after[0], after[1]
    );

    // Restarted on its address (Guardian[0] dials it there), Guardian[1]
    // takes part in the Initiator's next ceremony, which commits.
    cluster.config_mut("guardian-1").unwrap().listen = g1.address.to_string();
    let restarted = Instant::now();
    let mut g1 = loop {
        match cluster
            .spawn("guardian-1", Path::new(PROGRAM), args(1), PATIENCE)
            .await
        {
            Ok(process) => break process,
            // The killed process's socket may linger for a moment.
            Err(_) if restarted.elapsed() < PATIENCE => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("guardian-1 restarts: {e}"),
        }
    };
    let committed = line(&mut initiator, "ceremony 2: outcome").await;
    assert!(
        committed.contains("committed epoch 8; accepted by Guardian[0] Guardian[1] Guardian[2]"),
        "{committed}"
    );
    for (g, which) in [
        (&mut g0, "ceremony 2"),
        (&mut g2, "ceremony 2"),
        (&mut g1, "ceremony 1"),
    ] {
        let installed = line(g, &format!("{which}: outcome")).await;
        assert!(installed.contains("installed share"), "{installed}");
    }
    eprintln!(
        "from the restart to the committed ceremony: {:?}",
        restarted.elapsed()
    );
    // Nobody hangs: every process exits, 1 where a ceremony failed.
    for (process, code) in [(initiator, 1), (g0, 1), (g2, 1), (g1, 0)] {
        let name = process.name.clone();
        let finished = process.wait(PATIENCE).await.expect("exits in time");
        assert_eq!(
            finished.status.code(),
            Some(code),
            "{name}:\n{}",
            finished.transcript.join("\n")
        );
    }
}
