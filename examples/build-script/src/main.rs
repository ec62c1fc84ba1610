//! Runs one session of the `Squares` protocol (`protocols/squares.choreo`):
//! a coordinator and three workers, each on its own node of an in-memory
//! network, each played by code that implements its generated role trait.

use choreo_runtime::{MemoryNetwork, Peer, RoleContext, Roster, RunError};
use std::fmt;
use std::sync::Arc;
use tokio::sync::Barrier;

// The module the build script wrote: `squares::Coordinator`, `squares::As`, ...
include!(concat!(env!("OUT_DIR"), "/squares.rs"));

use squares::{choice, msg};

const WORKERS: u32 = 3;

/// Why this program's role code gives up (never, here).
#[derive(Debug)]
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The coordinator: gives worker `k` the number `k + 1` and accepts the
/// answers when every one is the square of what it was given.
#[derive(Default)]
struct Coordinator {
    squares: Vec<(u32, u64)>,
}

impl squares::Coordinator for Coordinator {
    type Types = ();
    type Error = Failure;

    async fn task(&mut self, to: Peer) -> Result<msg::Task, Failure> {
        let k = to.index().ok_or_else(|| Failure(format!("{to} is no worker")))?;
        Ok(msg::Task { n: u64::from(k) + 1 })
    }

    async fn on_square(&mut self, from: Peer, msg: u64) -> Result<(), Failure> {
        let k = from.index().ok_or_else(|| Failure(format!("{from} is no worker")))?;
        self.squares.push((k, msg));
        Ok(())
    }

    async fn choose_accept_or_reject(&mut self) -> Result<choice::AcceptOrReject, Failure> {
        let right = |(k, sq): &(u32, u64)| (u64::from(*k) + 1).pow(2) == *sq;
        Ok(if self.squares.iter().all(right) {
            choice::AcceptOrReject::Accept
        } else {
            choice::AcceptOrReject::Reject
        })
    }

    async fn accepted(&mut self, _to: Peer) -> Result<msg::Accepted, Failure> {
        let total = self.squares.iter().map(|(_, sq)| sq).sum();
        Ok(msg::Accepted { total })
    }

    async fn rejected(&mut self, _to: Peer) -> Result<msg::Rejected, Failure> {
        Ok(msg::Rejected {
            reason: "a square is wrong".into(),
        })
    }
}

/// A worker: squares what it is given and remembers how it ended.
#[derive(Default)]
struct Worker {
    index: Option<u32>,
    n: u64,
    outcome: Option<String>,
}

impl squares::Worker for Worker {
    type Types = ();
    type Error = Failure;

    async fn joined(&mut self, index: u32) -> Result<(), Failure> {
        self.index = Some(index);
        Ok(())
    }

    async fn on_task(&mut self, _from: Peer, msg: msg::Task) -> Result<(), Failure> {
        self.n = msg.n;
        Ok(())
    }

    async fn square(&mut self, _to: Peer) -> Result<u64, Failure> {
        Ok(self.n * self.n)
    }

    async fn on_accepted(&mut self, _from: Peer, msg: msg::Accepted) -> Result<(), Failure> {
        self.outcome = Some(format!("accepted, total {}", msg.total));
        Ok(())
    }

    async fn on_rejected(&mut self, _from: Peer, msg: msg::Rejected) -> Result<(), Failure> {
        self.outcome = Some(format!("rejected: {}", msg.reason));
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), RunError<Failure>> {
    let net = MemoryNetwork::new();
    let roster = Roster::new()
        .with_role("Coordinator")
        .with_family("Worker", WORKERS);
    // A peer not bound to a node runs on the node named like it.
    let coordinator = net.node("Coordinator")?;
    // Made by one party and told to the others (here, they share memory).
    let id = coordinator.new_session_id();
    // Every party joins the session before any of them sends.
    let joined = Arc::new(Barrier::new(WORKERS as usize + 1));
    let mut workers = Vec::new();
    for k in 0..WORKERS {
        let node = net.node(&format!("Worker[{k}]"))?;
        let (roster, joined) = (roster.clone(), joined.clone());
        workers.push(tokio::spawn(async move {
            let mut ctx = RoleContext::new();
            let me = Peer::member("Worker", k);
            let session = node.session(&squares::PROTOCOL, id, &roster, me, &mut ctx)?;
            joined.wait().await;
            let mut code = Worker::default();
            let params = squares::Params::default();
            squares::execute_as(squares::As::Worker(&mut code), session, &params).await?;
            Ok::<_, RunError<Failure>>(code)
        }));
    }
    // The coordinator's sends of `Task` cost 1 each (`flow_cost`): a budget
    // of 10 per peer is plenty for one session.
    let mut ctx = RoleContext::new().with_default_budget(10);
    let me = Peer::role("Coordinator");
    let session = coordinator.session(&squares::PROTOCOL, id, &roster, me, &mut ctx)?;
    joined.wait().await;
    let mut code = Coordinator::default();
    let params = squares::Params::default();
    let metrics =
        squares::execute_as(squares::As::Coordinator(&mut code), session, &params).await?;
    println!(
        "Coordinator: {} messages sent, {} received",
        metrics.messages_sent, metrics.messages_received
    );
    for task in workers {
        let worker = task
            .await
            .map_err(|e| RunError::Role(Failure(format!("a worker panicked: {e}"))))??;
        let outcome = worker.outcome.unwrap_or_default();
        println!("Worker[{}]: {outcome}", worker.index.unwrap_or_default());
    }
    Ok(())
}
