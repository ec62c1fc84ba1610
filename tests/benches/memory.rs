//! Resident memory of one long AmpTransport session: peak RSS of a fresh
//! process running one session of 10,000 and one of 1,000,000 messages
//! (`Window` AmpMessages, each receipted), through the generated runners with
//! the protocol's guards (every AmpMessage leaks, so the ledger is exercised).
//! Flat memory means the second figure is about the first.
//! Run: `cargo bench -p choreo-e2e --bench memory`.

use choreo_amp_transport as amp;
use choreo_e2e::amp::{Receiver, Sender};
use choreo_runtime::{MemoryNetwork, Peer, RoleContext, Roster};
use std::process::Command;

/// The peak resident set of this process, in KiB (`VmHWM` of /proc/self/status).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs one session of `messages` rounds in this process and prints its peak RSS.
fn session(messages: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let roster = Roster::new().with_role("Sender").with_role("Receiver");
        let net = MemoryNetwork::new();
        let (a, b) = (
            net.node("Sender").expect("node"),
            net.node("Receiver").expect("node"),
        );
        let params = amp::Params { window: messages };
        let mut sender_ctx = RoleContext::new().with_capabilities(["amp:channel", "amp:send"]);
        let mut receiver_ctx = RoleContext::new();
        let id = a.new_session_id();
        let sender = a
            .session(
                &amp::PROTOCOL,
                id,
                &roster,
                Peer::role("Sender"),
                &mut sender_ctx,
            )
            .expect("session");
        let receiver = b
            .session(
                &amp::PROTOCOL,
                id,
                &roster,
                Peer::role("Receiver"),
                &mut receiver_ctx,
            )
            .expect("session");
        let (mut s, mut r) = (Sender::default(), Receiver::default());
        let (sent, received) = tokio::join!(
            amp::execute_as(amp::As::Sender(&mut s), sender, &params),
            amp::execute_as(amp::As::Receiver(&mut r), receiver, &params),
        );
        let metrics = sent.expect("sender");
        received.expect("receiver");
        assert_eq!(metrics.messages_sent, messages + 3);
        assert_eq!(sender_ctx.ledger().sends(), messages);
    });
    println!("{}", peak_rss_kib().unwrap_or(0));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args.iter().position(|a| a == "--session") {
        let messages = args
            .get(n + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        session(messages);
        return;
    }
    let me = std::env::current_exe().expect("own path");
    let mut figures = Vec::new();
    for messages in [10_000u64, 1_000_000] {
        let out = Command::new(&me)
            .args(["--session", &messages.to_string()])
            .output()
            .expect("a child process");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kib: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("peak RSS in KiB");
        println!("{messages:>9} messages: peak RSS {kib} KiB");
        figures.push(kib);
    }
    println!(
        "memory: 10000 messages {} KiB, 1000000 messages {} KiB, ratio {:.2}",
        figures[0],
        figures[1],
        figures[1] as f64 / figures[0] as f64
    );
}
