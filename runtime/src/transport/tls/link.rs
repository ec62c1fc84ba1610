//! The link to one peer node: a long-lived task that owns the peer's send
//! queues, takes each new connection (dialed by [`dial_loop`] when this node
//! has the lower name, accepted by the listener otherwise), drives it, and
//! when it dies drops what was queued and tells the node's [`Inbound`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{sleep, sleep_until, Instant};
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

use crate::transport::contract::{Inbound, NodeId};

use super::conn::{dial, drive, End, Established, Queues};
use super::error::TlsError;
use super::{Context, LinkEvent};

/// What woke a link waiting for a connection.
enum Step {
    Connection(Option<Box<Established>>),
    Failure(TlsError),
    Frame(Option<Bytes>),
    Expired,
    Closing(bool),
}

/// The task behind one peer's link.
pub(crate) struct Link<I> {
    pub ctx: Arc<Context>,
    pub peer: NodeId,
    pub queues: Queues,
    /// New connections for this peer (from the dialer or the listener).
    pub incoming: mpsc::Receiver<Box<Established>>,
    /// Failed dial attempts, when this node dials the peer.
    pub failures: Option<mpsc::Receiver<TlsError>>,
    /// Wakes the dialer when the connection is lost.
    pub lost: Arc<Notify>,
    pub inbound: Arc<I>,
    /// Set when the transport closes gracefully.
    pub closing: watch::Receiver<bool>,
    /// Dropped when the task ends (the transport's `close` waits for that).
    pub _alive: mpsc::Sender<()>,
}

impl<I: Inbound> Link<I> {
    /// Runs until the transport shuts down.
    pub async fn run(mut self) {
        let mut next: Option<Box<Established>> = None;
        let mut held: Option<Bytes> = None;
        loop {
            let conn = match next.take() {
                Some(conn) => conn,
                None => match self.wait_for_connection(&mut held).await {
                    Some(conn) => conn,
                    None => return,
                },
            };
            self.up(&conn);
            let end = drive(
                &self.ctx,
                *conn,
                held.take(),
                &mut self.queues,
                &*self.inbound,
                &mut self.incoming,
                &mut self.closing,
            )
            .await;
            let reason = match end {
                End::Failed(err) => err,
                End::Replaced(newer) => {
                    next = Some(newer);
                    TlsError::Replaced
                }
                End::Shutdown => return,
            };
            self.down(reason.to_string());
            if next.is_none() {
                self.lost.notify_one();
            }
        }
    }

    /// Waits for the next connection. Frames queued meanwhile wait too, up to
    /// the connect timeout (or until the dialer hits an error that retrying
    /// will not cure); then they are dropped and the peer reported down.
    async fn wait_for_connection(&mut self, held: &mut Option<Bytes>) -> Option<Box<Established>> {
        let bound = self.ctx.config.timeouts.connect;
        let mut deadline = held.as_ref().map(|_| Instant::now() + bound);
        let mut last: Option<TlsError> = None;
        loop {
            // Closing: a link with nothing to send has nothing to wait for.
            if *self.closing.borrow() && held.is_none() {
                match self.queues.try_next() {
                    None => return None,
                    Some(frame) => {
                        *held = Some(frame);
                        deadline.get_or_insert(Instant::now() + bound);
                    }
                }
            }
            let step = {
                let (failures, incoming, queues, closing) = (
                    &mut self.failures,
                    &mut self.incoming,
                    &mut self.queues,
                    &mut self.closing,
                );
                let expiry = async {
                    match deadline {
                        Some(d) => sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                let failure = async {
                    match failures.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    conn = incoming.recv() => Step::Connection(conn),
                    Some(err) = failure => Step::Failure(err),
                    frame = queues.next(), if held.is_none() => Step::Frame(frame),
                    () = expiry => Step::Expired,
                    changed = closing.changed(), if !*closing.borrow() => Step::Closing(changed.is_ok()),
                }
            };
            match step {
                Step::Connection(conn) => return conn,
                Step::Failure(err) => {
                    let permanent = !err.is_transient();
                    last = Some(err);
                    if permanent && deadline.is_some() {
                        self.give_up(held, &last, bound);
                        deadline = None;
                    }
                }
                Step::Frame(frame) => {
                    *held = Some(frame?);
                    deadline = Some(Instant::now() + bound);
                }
                Step::Expired => {
                    self.give_up(held, &last, bound);
                    deadline = None;
                }
                // Looked at on the next turn; a dropped sender means the transport is gone.
                Step::Closing(open) => {
                    if !open {
                        return None;
                    }
                }
            }
        }
    }

    fn give_up(&mut self, held: &mut Option<Bytes>, last: &Option<TlsError>, bound: Duration) {
        let dropped = usize::from(held.take().is_some()) + self.queues.drain();
        let why = match last {
            Some(err) => format!("last attempt: {err}"),
            None if self.ctx.config.dials(&self.peer) => "no attempt finished".to_string(),
            None => "it has not dialed in".to_string(),
        };
        let reason = format!(
            "cannot reach node {}: no link within {} ms ({why})",
            self.peer,
            bound.as_millis()
        );
        self.report_down(reason, dropped);
    }

    fn up(&self, conn: &Established) {
        info!(
            node = %self.ctx.config.name,
            peer = %self.peer,
            remote = %conn.remote,
            version = %conn.negotiated.version,
            "link up"
        );
        self.ctx.stats.links_up.inc();
        self.ctx
            .set_negotiated(&self.peer, Some(conn.negotiated.clone()));
        self.ctx.emit(LinkEvent::Up {
            node: self.peer.clone(),
            negotiated: conn.negotiated.clone(),
            remote: conn.remote,
        });
    }

    fn down(&mut self, reason: String) {
        let dropped = self.queues.drain();
        self.ctx.set_negotiated(&self.peer, None);
        self.report_down(reason, dropped);
    }

    fn report_down(&self, reason: String, dropped: usize) {
        warn!(
            node = %self.ctx.config.name,
            peer = %self.peer,
            dropped,
            reason = %reason,
            "link down"
        );
        self.ctx.stats.dropped.add(dropped as u64);
        self.inbound.link_down(&self.peer, &reason);
        self.ctx.emit(LinkEvent::Down {
            node: self.peer.clone(),
            reason,
            dropped,
        });
    }
}

/// Dials `peer` at `address` whenever there is no connection: at start, and
/// again each time the link reports the connection lost, with exponential
/// backoff between failed attempts.
pub(crate) async fn dial_loop(
    ctx: Arc<Context>,
    peer: NodeId,
    address: String,
    connector: TlsConnector,
    connections: mpsc::Sender<Box<Established>>,
    failures: mpsc::Sender<TlsError>,
    lost: Arc<Notify>,
) {
    let timeouts = ctx.config.timeouts;
    loop {
        let mut delay = timeouts.backoff_initial;
        loop {
            match dial(&ctx, &connector, &peer, &address).await {
                Ok(conn) => {
                    if connections.send(Box::new(conn)).await.is_err() {
                        return;
                    }
                    break;
                }
                Err(err) => {
                    if err.is_transient() {
                        debug!(node = %ctx.config.name, %peer, %address, error = %err, "dial failed");
                    } else {
                        warn!(node = %ctx.config.name, %peer, %address, error = %err, "dial refused");
                    }
                    ctx.stats.dial_failures.inc();
                    ctx.emit(LinkEvent::DialFailed {
                        node: peer.clone(),
                        error: err.clone(),
                    });
                    // Full means the link has not looked at earlier failures yet.
                    let _ = failures.try_send(err);
                    sleep(delay).await;
                    delay = (delay * 2).min(timeouts.backoff_max);
                }
            }
        }
        lost.notified().await;
    }
}
