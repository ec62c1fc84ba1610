//! `@parallel`: a fan-out has all its sends in flight at once, and a fan-in all
//! its receives; without it, one at a time in member order.
//!
//! Observed through a gating transport: each send (receive) is counted as
//! pending and held until `target` sends (receives) have started, with a
//! bounded wait that fails the operation otherwise. No timing is measured.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use choreo_runtime::{
    Adapter, EffectError, Effects, ErrorKind, InMemoryNetwork, MemoryEndpoint, Peer, RoleContext,
    Roster, SendGuard, Transport,
};
use common::{role, Role, PROTOCOL, TIMEOUT};
use tokio::sync::watch;

/// How long a gated operation waits for the others (virtual time).
const WAIT: Duration = Duration::from_secs(1);
const WORKERS: u32 = 4;

/// Counts operations that started and are still pending.
struct Counter {
    started: watch::Sender<usize>,
    pending: AtomicUsize,
    peak: AtomicUsize,
}

impl Counter {
    fn new() -> Self {
        Counter {
            started: watch::Sender::new(0),
            pending: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Marks one operation pending and waits until `target` have started.
    async fn hold(&self, target: usize) -> bool {
        let now = self.pending.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.started.send_modify(|n| *n += 1);
        let mut started = self.started.subscribe();
        let all_started = tokio::time::timeout(WAIT, started.wait_for(|n| *n >= target)).await;
        all_started.is_ok()
    }

    fn release(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// A transport that holds every send and receive until `target` of them are pending.
struct Gate {
    inner: MemoryEndpoint,
    target: usize,
    sends: Counter,
    recvs: Counter,
    order: Mutex<Vec<Peer>>,
}

impl Transport for Gate {
    fn local(&self) -> &Peer {
        self.inner.local()
    }

    async fn send(&self, to: &Peer, frame: Vec<u8>) -> Result<(), EffectError> {
        self.order.lock().unwrap().push(to.clone());
        let open = self.sends.hold(self.target).await;
        let result = match open {
            true => self.inner.send(to, frame).await,
            false => Err(EffectError::Timeout {
                peer: to.clone(),
                after: WAIT,
            }),
        };
        self.sends.release();
        result
    }

    async fn recv(&self, from: &Peer) -> Result<Vec<u8>, EffectError> {
        let open = self.recvs.hold(self.target).await;
        let result = match open {
            true => self.inner.recv(from).await,
            false => Err(EffectError::Timeout {
                peer: from.clone(),
                after: WAIT,
            }),
        };
        self.recvs.release();
        result
    }
}

fn roster() -> Roster {
    Roster::new()
        .with_role("Coordinator")
        .with_family("Worker", WORKERS)
}

fn coordinator() -> Peer {
    Peer::role("Coordinator")
}

/// A gated coordinator (target `target`) and ungated workers.
fn setup(target: usize) -> (Adapter<Effects<Gate>>, Vec<Role>, Vec<Peer>) {
    let (net, roster) = (InMemoryNetwork::new(), roster());
    let gate = Gate {
        inner: net.endpoint(coordinator()).unwrap(),
        target,
        sends: Counter::new(),
        recvs: Counter::new(),
        order: Mutex::new(Vec::new()),
    };
    let effects = Effects::new(gate, roster.clone()).with_timeout(TIMEOUT);
    let mut coord = Adapter::new(PROTOCOL, effects, RoleContext::new());
    coord.start().unwrap();
    let members = coord.members("Worker").unwrap();
    let workers = members
        .iter()
        .map(|w| role(&net, &roster, w.clone(), RoleContext::new()))
        .collect();
    (coord, workers, members)
}

fn gate(coord: &Adapter<Effects<Gate>>) -> &Gate {
    coord.effects().transport()
}

#[tokio::test(start_paused = true)]
async fn parallel_fan_out_has_every_send_in_flight_at_once() {
    let (mut coord, mut workers, members) = setup(WORKERS as usize);
    let messages: Vec<_> = members
        .iter()
        .map(|w| (w.clone(), w.index().unwrap() * 10))
        .collect();
    coord
        .fan_out("Task", &SendGuard::NONE, true, &messages)
        .await
        .unwrap();
    assert_eq!(gate(&coord).sends.peak(), WORKERS as usize);
    for (i, worker) in workers.iter_mut().enumerate() {
        assert_eq!(
            worker.recv::<u32>(&coordinator(), "Task").await.unwrap(),
            i as u32 * 10
        );
    }
}

#[tokio::test(start_paused = true)]
async fn sequential_fan_out_never_has_two_sends_in_flight() {
    let (mut coord, _workers, members) = setup(WORKERS as usize);
    let messages: Vec<_> = members.iter().map(|w| (w.clone(), 0u8)).collect();
    let err = coord
        .fan_out("Task", &SendGuard::NONE, false, &messages)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Send(EffectError::Timeout { .. })),
        "{err}"
    );
    assert_eq!(gate(&coord).sends.peak(), 1);
}

#[tokio::test(start_paused = true)]
async fn sequential_fan_out_goes_in_member_order() {
    let (mut coord, mut workers, members) = setup(1);
    let in_order: Vec<_> = members.iter().map(|w| (w.clone(), ())).collect();
    coord
        .fan_out("Task", &SendGuard::NONE, false, &in_order)
        .await
        .unwrap();
    assert_eq!(*gate(&coord).order.lock().unwrap(), members);
    assert_eq!(gate(&coord).sends.peak(), 1);
    for worker in &mut workers {
        worker.recv::<()>(&coordinator(), "Task").await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn parallel_fan_in_has_every_receive_pending_at_once() {
    let (mut coord, mut workers, members) = setup(WORKERS as usize);
    for (i, worker) in workers.iter_mut().enumerate() {
        worker
            .send(&coordinator(), "Result", &SendGuard::NONE, &(i as u64))
            .await
            .unwrap();
    }
    let results: Vec<u64> = coord.fan_in(&members, "Result", true).await.unwrap();
    assert_eq!(results, [0, 1, 2, 3]);
    assert_eq!(gate(&coord).recvs.peak(), WORKERS as usize);
}

#[tokio::test(start_paused = true)]
async fn sequential_fan_in_never_has_two_receives_pending() {
    let (mut coord, mut workers, members) = setup(WORKERS as usize);
    for worker in &mut workers {
        worker
            .send(&coordinator(), "Result", &SendGuard::NONE, &7u64)
            .await
            .unwrap();
    }
    let err = coord
        .fan_in::<u64>(&members, "Result", false)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Receive(EffectError::Timeout { .. })),
        "{err}"
    );
    assert_eq!(gate(&coord).recvs.peak(), 1);
}
