//! A node in a child process (the `choreo-node` binary, an echo node): frames
//! make the round trip, SIGKILL is seen as a link loss, and after a restart on
//! the same address frames flow again. The lead's multi-process tests reuse
//! `testing::NodeProcess` the same way.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use choreo_runtime::transport::contract::NodeId;
use choreo_runtime::transport::tls::testing::{Cluster, NodeProcess};

use crate::harness::{fast_timeouts, scratch, send, start_config, PATIENCE};

async fn spawn(cluster: &Cluster, name: &str) -> NodeProcess {
    let path = cluster.write_config(name).unwrap();
    let program = Path::new(env!("CARGO_BIN_EXE_choreo-node"));
    let args = [std::ffi::OsString::from("--config"), path.into_os_string()];
    NodeProcess::spawn(program, args, PATIENCE).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_process_is_a_lost_link_and_a_restarted_one_serves_again() {
    let dir = scratch();
    let mut cluster = Cluster::generate(dir.path(), &["a", "b"]).unwrap();
    cluster.configure(|c| c.timeouts = fast_timeouts());
    let mut b = spawn(&cluster, "b").await;
    assert_eq!(b.name, NodeId::new("b"));
    cluster.set_address("b", b.address);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut listeners = vec![(NodeId::new("a"), listener)];
    let mut a = start_config(cluster.config("a").unwrap().clone(), &mut listeners, "a");

    for i in 0..20u32 {
        send(&a.transport, "b", Bytes::from(format!("echo {i}"))).await;
    }
    for i in 0..20u32 {
        assert_eq!(
            a.received.frame().await,
            (NodeId::new("b"), Bytes::from(format!("echo {i}")))
        );
    }
    assert_eq!(b.next_line(PATIENCE).await.as_deref(), Some("up a 1.0.0"));

    b.kill().await.unwrap();
    let (node, _reason) = a.received.down().await;
    assert_eq!(node.as_str(), "b");

    // Restart on the same address (the one a's configuration names).
    cluster.config_mut("b").unwrap().listen = b.address.to_string();
    let mut restarted = None;
    for _ in 0..50 {
        let args = [
            "--config".into(),
            cluster.write_config("b").unwrap().into_os_string(),
        ];
        match NodeProcess::spawn(Path::new(env!("CARGO_BIN_EXE_choreo-node")), args, PATIENCE).await
        {
            Ok(p) => {
                restarted = Some(p);
                break;
            }
            // The old socket may linger for a moment.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let mut b = restarted.expect("b restarts on its address");
    send(&a.transport, "b", Bytes::from("after restart")).await;
    assert_eq!(
        a.received.frame().await,
        (NodeId::new("b"), Bytes::from("after restart"))
    );
    b.kill().await.unwrap();
}
