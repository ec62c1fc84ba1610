//! `cargo xtask demo guardian-ceremony`: a GuardianCeremony between an
//! Initiator and 3 Guardians, each its own OS process (`choreo-role`), over
//! mutual TLS on 127.0.0.1.
//!
//! It builds `choreo-role`, makes a certificate per node at run time
//! (rcgen, through `testing::Cluster`) and a configuration file per node in
//! a temporary folder, starts the processes from the greatest node name down
//! on ephemeral ports (each reports its address before the next one's
//! configuration is written), waits for all of them to exit (at most
//! [`DEADLINE`]; whatever still runs then is killed), and prints what each
//! one did. Exit code 0 only when all four exited 0 and report the ceremony
//! committed (Initiator) and a share installed (each Guardian); 1 otherwise,
//! saying which did not; 2 when the demo cannot be set up.
//!
//! xtask does not depend on the services crate (codegen must build even
//! when `generated/` does not): the binary is built and run as a program.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use choreo_runtime::transport::tls::testing::{Cluster, Finished};
use choreo_runtime::transport::tls::{PeerName, RosterConfig};
use choreo_runtime::NodeId;

/// The whole demo, processes included, ends within this long.
const DEADLINE: Duration = Duration::from_secs(60);
/// Each process must be listening within this long of its start.
const READY: Duration = Duration::from_secs(20);
/// Guardians in the ceremony.
const GUARDIANS: u32 = 3;
/// The seed every process derives its demo state from.
const SEED: &str = "cargo xtask demo";

/// Runs the demo from the workspace at `root`.
pub fn guardian_ceremony(root: &Path) -> ExitCode {
    let program = match build(root) {
        Ok(program) => program,
        Err(why) => {
            eprintln!("error: {why}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&program)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::from(2)
        }
    }
}

/// Builds `choreo-role` (release, next to this xtask binary) and returns its path.
fn build(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("demo: building choreo-role");
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "choreo-services"])
        .args(["--bin", "choreo-role"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building choreo-role failed ({status})"));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask itself: {e}"))?;
    let program = exe
        .parent()
        .map(|dir| dir.join(format!("choreo-role{}", std::env::consts::EXE_SUFFIX)))
        .filter(|p| p.exists())
        .ok_or_else(|| format!("no choreo-role next to {}", exe.display()))?;
    Ok(program)
}

/// The node each peer runs on.
fn nodes() -> Vec<(PeerName, NodeId)> {
    let mut nodes = vec![(
        PeerName {
            role: "Initiator".into(),
            member: None,
        },
        NodeId::new("initiator"),
    )];
    for k in 0..GUARDIANS {
        let peer = PeerName {
            role: "Guardian".into(),
            member: Some(k),
        };
        nodes.push((peer, NodeId::new(format!("guardian-{k}"))));
    }
    nodes
}

/// Starts the four processes, waits for them and reports; `Ok(true)` when all succeeded.
async fn run(program: &Path) -> Result<bool, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
    let nodes = nodes();
    let names: Vec<String> = nodes.iter().map(|(_, n)| n.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut cluster = Cluster::generate(dir.path(), &names).map_err(|e| e.to_string())?;
    let roster = RosterConfig {
        families: BTreeMap::from([("Guardian".to_string(), GUARDIANS)]),
        nodes: nodes.iter().cloned().collect(),
        receive_timeout: Some(Duration::from_secs(10)),
    };
    cluster.configure(|c| {
        c.rosters
            .insert("GuardianCeremony".to_string(), roster.clone());
    });
    println!(
        "demo: {} nodes, one certificate each (made now with rcgen), configurations in a temporary folder",
        names.len()
    );
    let wait_ms = (DEADLINE.as_millis() / 2).to_string();
    let args = [
        "--protocol",
        "guardian-ceremony",
        "--demo-seed",
        SEED,
        "--wait-ms",
        &wait_ms,
    ];
    let started = cluster
        .spawn_all(program, |_| args.iter().map(Into::into).collect(), READY)
        .await
        .map_err(|e| format!("cannot start the processes: {e}"))?;
    for (name, process) in started.iter().rev() {
        let pid = process.id().map_or("?".to_string(), |p| p.to_string());
        println!(
            "demo: started {name} (pid {pid}), listening on {}",
            process.address
        );
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let waits = started.into_iter().map(|(name, process)| async move {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        (name, process.wait(left).await)
    });
    let ended: Vec<(NodeId, std::io::Result<Finished>)> =
        futures_util::future::join_all(waits).await;
    let mut all_ok = true;
    // The Initiator first, then the guardians in order.
    let order = |n: &NodeId| (n.as_str() != "initiator", n.clone());
    let mut ended = ended;
    ended.sort_by_key(|(n, _)| order(n));
    for (name, result) in &ended {
        println!();
        match result {
            Ok(finished) => {
                let expected = if name.as_str() == "initiator" {
                    ": outcome committed"
                } else {
                    ": outcome installed"
                };
                let succeeded = finished.status.success()
                    && finished.transcript.iter().any(|l| l.contains(expected));
                all_ok &= succeeded;
                println!(
                    "== {name}: {} ({})",
                    if succeeded { "succeeded" } else { "FAILED" },
                    finished.status
                );
                for line in &finished.transcript {
                    println!("   {line}");
                }
            }
            Err(e) => {
                all_ok = false;
                println!("== {name}: FAILED: {e} (killed)");
            }
        }
    }
    println!();
    if all_ok {
        println!(
            "demo: all {} processes succeeded: the Initiator committed the ceremony and each of the {GUARDIANS} guardians installed its share, over mutual TLS",
            ended.len()
        );
    } else {
        let failed: Vec<String> = ended
            .iter()
            .filter(|(_, r)| !r.as_ref().is_ok_and(|f| f.status.success()))
            .map(|(n, _)| n.to_string())
            .collect();
        println!(
            "demo: FAILED: not every process succeeded (nonzero exit: {})",
            if failed.is_empty() {
                "none, but an outcome line is missing".to_string()
            } else {
                failed.join(", ")
            }
        );
    }
    Ok(all_ok)
}
