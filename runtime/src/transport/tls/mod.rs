//! The network transport: mutual TLS over TCP between the nodes named in a
//! [`NodeConfig`], one connection per pair of nodes carrying every session
//! between them.
//!
//! - **Identity** is the certificate: the configuration binds every peer's
//!   name to the one certificate it must present ([`identity`]); an unknown
//!   certificate, or the certificate of another node than the one dialed, is
//!   refused during the TLS handshake.
//! - **Who dials:** of two nodes, the one with the lower name dials the other,
//!   as soon as the transport starts and again whenever the connection is lost
//!   (exponential backoff between attempts). So there is exactly one
//!   connection per pair without any tie-breaking, and a node only needs the
//!   addresses of peers whose names are greater than its own. The other side
//!   accepts; a connection dialed the wrong way is refused.
//! - **Version handshake** ([`handshake`]) on every connection, inside TLS,
//!   before any data frame.
//! - **Framing** ([`wire`]): length-delimited frames with a one-byte type, at
//!   most `max_frame` bytes of data each; `TCP_NODELAY` on every socket.
//! - **Keep-alive:** each side pings every `keepalive_interval`; a link on which
//!   nothing arrives for `keepalive_timeout` is dead.
//! - **Link loss:** the frames still queued for the node are dropped, the node's
//!   [`Inbound::link_down`] is called with the reason, and the dialing side
//!   reconnects. Frames queued while there is no link wait up to the connect
//!   timeout, then are dropped the same way.
//!
//! Nothing a peer sends can panic the transport: every refusal is a typed
//! [`TlsError`], logged with `tracing` and broadcast as a [`LinkEvent`].

pub mod config;
mod conn;
pub mod error;
pub mod handshake;
pub mod identity;
mod link;
pub mod roster;
pub mod testing;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{info, warn};

use crate::transport::contract::{Inbound, NodeId, Route, SendPermit, Transport, TransportError};

pub use config::{ConfigError, ConfigProblem, ExpectedIdentity, NodeConfig, PeerConfig, Timeouts};
pub use error::TlsError;
pub use handshake::{Incompatibility, Negotiated, VersionPolicy};
pub use identity::{Fingerprint, GeneratedIdentity, LocalIdentity, PeerBook};
pub use roster::{PeerName, Placement, RosterConfig, RosterProblem};

use conn::{accept, Established, Queues};
use handshake::NonceCache;
use link::{dial_loop, Link};

/// How many recent nonces a node remembers to refuse replayed handshakes.
const NONCE_MEMORY: usize = 4096;
/// How many incoming connections may be in their handshake at once.
const MAX_PENDING_HANDSHAKES: usize = 64;
/// Control frames ([`Transport::send_now`]) that may wait per peer.
const CONTROL_BUFFER: usize = 1024;

/// Something that happened to a link, for monitoring and tests.
#[derive(Clone, Debug)]
pub enum LinkEvent {
    /// A connection to `node` passed TLS and the version handshake.
    Up {
        /// The peer.
        node: NodeId,
        /// The negotiated version and capabilities.
        negotiated: Negotiated,
        /// The peer's socket address.
        remote: SocketAddr,
    },
    /// The link to `node` went down (the reason is also given to [`Inbound::link_down`]).
    Down {
        /// The peer.
        node: NodeId,
        /// Why.
        reason: String,
        /// Frames that were queued for it and were dropped.
        dropped: usize,
    },
    /// An incoming connection was refused.
    Refused {
        /// Where it came from.
        remote: SocketAddr,
        /// Why.
        error: TlsError,
    },
    /// Dialing `node` failed (it is retried with backoff).
    DialFailed {
        /// The peer.
        node: NodeId,
        /// Why.
        error: TlsError,
    },
}

/// Counters of a transport since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Connections that passed the handshake (dialed or accepted).
    pub links_up: u64,
    /// Incoming connections refused.
    pub refused: u64,
    /// Failed dial attempts.
    pub dial_failures: u64,
    /// Data frames written.
    pub frames_sent: u64,
    /// Data frames received and handed to the [`Inbound`].
    pub frames_received: u64,
    /// Data frames dropped (queued when a link died, or oversized).
    pub frames_dropped: u64,
}

#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1);
    }
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub(crate) struct Stats {
    pub links_up: Counter,
    pub refused: Counter,
    pub dial_failures: Counter,
    pub sent: Counter,
    pub received: Counter,
    pub dropped: Counter,
}

/// What every task of one transport shares.
pub(crate) struct Context {
    pub config: NodeConfig,
    pub book: PeerBook,
    pub nonces: NonceCache,
    pub stats: Stats,
    events: broadcast::Sender<LinkEvent>,
    negotiated: Mutex<BTreeMap<NodeId, Negotiated>>,
}

impl Context {
    pub(crate) fn emit(&self, event: LinkEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    pub(crate) fn set_negotiated(&self, node: &NodeId, value: Option<Negotiated>) {
        let mut map = self
            .negotiated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match value {
            Some(n) => map.insert(node.clone(), n),
            None => map.remove(node),
        };
    }
}

/// The send side of one peer's link.
struct LinkSender {
    data: mpsc::Sender<Bytes>,
    ctrl: mpsc::Sender<Bytes>,
}

struct Inner {
    ctx: Arc<Context>,
    links: BTreeMap<NodeId, LinkSender>,
    local_addr: SocketAddr,
    tasks: Vec<AbortHandle>,
    closed: std::sync::atomic::AtomicBool,
    /// Set by [`TlsTransport::close`]: every link writes what it holds and
    /// closes its connection.
    closing: watch::Sender<bool>,
    /// Closed once every link task has ended (each holds a sender).
    links_alive: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The mutual-TLS transport of one node. Cheap to clone; the node's tasks
/// stop (and its connections close) when the last clone is dropped.
#[derive(Clone)]
pub struct TlsTransport {
    inner: Arc<Inner>,
}

impl TlsTransport {
    /// Binds `config.listen`, then starts as [`TlsTransport::start_with_listener`].
    pub fn start<I: Inbound>(
        config: NodeConfig,
        inbound: Arc<I>,
    ) -> Result<TlsTransport, TlsError> {
        let listener = std::net::TcpListener::bind(&config.listen).map_err(|e| TlsError::Io {
            context: "binding the listen address",
            message: format!("{}: {e}", config.listen),
        })?;
        Self::start_with_listener(config, listener, inbound)
    }

    /// Starts the node on an already bound `listener` (tests bind port 0 first
    /// to learn the address): checks the configuration, loads the certificate,
    /// key and peers' certificates, starts accepting, and starts dialing every
    /// peer whose name is greater than this node's. Every frame that arrives
    /// goes to `inbound`. Must be called inside a tokio runtime.
    pub fn start_with_listener<I: Inbound>(
        config: NodeConfig,
        listener: std::net::TcpListener,
        inbound: Arc<I>,
    ) -> Result<TlsTransport, TlsError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| TlsError::NoRuntime)?;
        config.check()?;
        let local = LocalIdentity::load(&config.certificate, &config.private_key)?;
        let book = PeerBook::from_config(&config, Path::new("<memory>"))?;
        let shared_book = Arc::new(book.clone());
        let acceptor = TlsAcceptor::from(identity::server_config(&local, shared_book.clone())?);
        let io = |e: std::io::Error| TlsError::Io {
            context: "setting up the listener",
            message: e.to_string(),
        };
        listener.set_nonblocking(true).map_err(io)?;
        let local_addr = listener.local_addr().map_err(io)?;
        let _guard = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener).map_err(io)?;
        let ctx = Arc::new(Context {
            config,
            book,
            nonces: NonceCache::new(NONCE_MEMORY),
            stats: Stats::default(),
            events: broadcast::channel(1024).0,
            negotiated: Mutex::new(BTreeMap::new()),
        });
        let mut tasks = Vec::new();
        let mut links = BTreeMap::new();
        let mut incoming = BTreeMap::new();
        let (closing, closing_rx) = watch::channel(false);
        let (alive, links_alive) = mpsc::channel(1);
        for peer in &ctx.config.peers {
            let (data_tx, data_rx) = mpsc::channel(ctx.config.send_buffer);
            let (ctrl_tx, ctrl_rx) = mpsc::channel(CONTROL_BUFFER);
            let (conn_tx, conn_rx) = mpsc::channel(4);
            let lost = Arc::new(Notify::new());
            let mut failures = None;
            if let (true, Some(address)) = (ctx.config.dials(&peer.name), &peer.address) {
                let (fail_tx, fail_rx) = mpsc::channel(16);
                failures = Some(fail_rx);
                let connector = TlsConnector::from(identity::client_config(
                    &local,
                    shared_book.clone(),
                    peer.name.clone(),
                )?);
                let dialer = dial_loop(
                    ctx.clone(),
                    peer.name.clone(),
                    address.clone(),
                    connector,
                    conn_tx.clone(),
                    fail_tx,
                    lost.clone(),
                );
                tasks.push(runtime.spawn(dialer).abort_handle());
            }
            let link = Link {
                ctx: ctx.clone(),
                peer: peer.name.clone(),
                queues: Queues {
                    ctrl: ctrl_rx,
                    data: data_rx,
                },
                incoming: conn_rx,
                failures,
                lost,
                inbound: inbound.clone(),
                closing: closing_rx.clone(),
                _alive: alive.clone(),
            };
            tasks.push(runtime.spawn(link.run()).abort_handle());
            links.insert(
                peer.name.clone(),
                LinkSender {
                    data: data_tx,
                    ctrl: ctrl_tx,
                },
            );
            incoming.insert(peer.name.clone(), conn_tx);
        }
        drop(alive);
        let listen = listen_loop(ctx.clone(), listener, acceptor, Arc::new(incoming));
        tasks.push(runtime.spawn(listen).abort_handle());
        info!(node = %ctx.config.name, address = %local_addr, peers = ctx.config.peers.len(), "listening");
        Ok(TlsTransport {
            inner: Arc::new(Inner {
                ctx,
                links,
                local_addr,
                tasks,
                closed: std::sync::atomic::AtomicBool::new(false),
                closing,
                links_alive: Mutex::new(Some(links_alive)),
            }),
        })
    }

    /// The address this node listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// This node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.ctx.config
    }

    /// Subscribes to link events from now on.
    pub fn events(&self) -> broadcast::Receiver<LinkEvent> {
        self.inner.ctx.events.subscribe()
    }

    /// The counters so far.
    pub fn stats(&self) -> TransportStats {
        let s = &self.inner.ctx.stats;
        TransportStats {
            links_up: s.links_up.get(),
            refused: s.refused.get(),
            dial_failures: s.dial_failures.get(),
            frames_sent: s.sent.get(),
            frames_received: s.received.get(),
            frames_dropped: s.dropped.get(),
        }
    }

    /// What was negotiated with `node`, if a link to it is up now.
    pub fn negotiated(&self, node: &NodeId) -> Option<Negotiated> {
        let map = self
            .inner
            .ctx
            .negotiated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(node).cloned()
    }

    /// Stops the node now: closes the listener, every connection and every
    /// link task (peers see the links go down); later sends fail with
    /// [`TransportError::Closed`]. Dropping the last clone does the same.
    pub fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        for task in &self.inner.tasks {
            task.abort();
        }
    }

    /// Stops the node gracefully, for a process about to exit once its
    /// sessions have ended: every frame already handed to the transport is
    /// written, each connection is closed with a TLS `close_notify` (its peer
    /// sees the link close, after everything sent before), and this waits
    /// for the peers to close their side. Frames waiting for a link that is
    /// down keep waiting for it. After `within` at most, the node stops as
    /// [`TlsTransport::shutdown`] does; returns whether every link closed in time.
    pub async fn close(&self, within: std::time::Duration) -> bool {
        self.inner.closing.send_replace(true);
        let alive = self
            .inner
            .links_alive
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let closed = match alive {
            // `None` once every link task has ended and dropped its sender.
            Some(mut alive) => tokio::time::timeout(within, alive.recv()).await.is_ok(),
            None => true,
        };
        self.shutdown();
        closed
    }

    /// A handle that does not keep the transport alive, for an [`Inbound`]
    /// that needs to send (holding a [`TlsTransport`] there would be a
    /// reference cycle: the transport's tasks hold the `Inbound`).
    pub fn downgrade(&self) -> WeakTlsTransport {
        WeakTlsTransport {
            inner: Arc::downgrade(&self.inner),
        }
    }

    fn link_to(&self, to: &NodeId) -> Result<&LinkSender, TransportError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(TransportError::Closed);
        }
        self.inner
            .links
            .get(to)
            .ok_or_else(|| TransportError::Unreachable {
                node: to.clone(),
                reason: "not a peer in this node's configuration".to_string(),
            })
    }
}

/// A [`TlsTransport`] handle that does not keep it alive.
#[derive(Clone)]
pub struct WeakTlsTransport {
    inner: std::sync::Weak<Inner>,
}

impl WeakTlsTransport {
    /// The transport, unless it has been dropped.
    pub fn upgrade(&self) -> Option<TlsTransport> {
        self.inner.upgrade().map(|inner| TlsTransport { inner })
    }
}

/// A place for one frame in a peer's send queue.
pub struct TlsPermit {
    permit: mpsc::OwnedPermit<Bytes>,
    ctx: Arc<Context>,
    to: NodeId,
}

impl SendPermit for TlsPermit {
    /// Queues `frame`. A frame above `max_frame` cannot be reported from here
    /// (the contract's `send` cannot fail): it is dropped, logged and counted;
    /// callers check [`Transport::max_frame`] first.
    fn send(self, frame: Bytes) {
        if frame.len() > self.ctx.config.max_frame {
            warn!(
                node = %self.ctx.config.name,
                peer = %self.to,
                size = frame.len(),
                max = self.ctx.config.max_frame,
                "oversized frame dropped"
            );
            self.ctx.stats.dropped.inc();
            return;
        }
        self.permit.send(frame);
    }
}

impl Transport for TlsTransport {
    /// The peer node: its link's queues are found per frame (one map lookup,
    /// small next to a TLS record).
    type Link = NodeId;
    type Permit = TlsPermit;

    fn local(&self) -> &NodeId {
        &self.inner.ctx.config.name
    }

    fn max_frame(&self) -> usize {
        self.inner.ctx.config.max_frame
    }

    fn link(&self, to: &NodeId, _route: Route) -> NodeId {
        to.clone()
    }

    async fn reserve(&self, to: &NodeId) -> Result<TlsPermit, TransportError> {
        let link = self.link_to(to)?;
        let permit = link
            .data
            .clone()
            .reserve_owned()
            .await
            .map_err(|_| TransportError::Closed)?;
        Ok(TlsPermit {
            permit,
            ctx: self.inner.ctx.clone(),
            to: to.clone(),
        })
    }

    fn send_now(&self, to: &NodeId, frame: Bytes) -> Result<(), TransportError> {
        let max = self.max_frame();
        if frame.len() > max {
            return Err(TransportError::FrameTooLarge {
                size: frame.len(),
                max,
            });
        }
        self.link_to(to)?.ctrl.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TransportError::LinkLost {
                node: to.clone(),
                reason: format!("{CONTROL_BUFFER} control frames already waiting"),
            },
            mpsc::error::TrySendError::Closed(_) => TransportError::Closed,
        })
    }
}

/// Accepts connections, runs their handshakes concurrently (at most
/// [`MAX_PENDING_HANDSHAKES`] at once), and hands each established one to its
/// peer's link.
async fn listen_loop(
    ctx: Arc<Context>,
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    links: Arc<BTreeMap<NodeId, mpsc::Sender<Box<Established>>>>,
) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(node = %ctx.config.name, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            warn!(node = %ctx.config.name, %remote, "too many handshakes in progress: connection dropped");
            ctx.stats.refused.inc();
            continue;
        };
        tokio::spawn(handle_incoming(
            ctx.clone(),
            acceptor.clone(),
            links.clone(),
            tcp,
            remote,
            permit,
        ));
    }
}

async fn handle_incoming(
    ctx: Arc<Context>,
    acceptor: TlsAcceptor,
    links: Arc<BTreeMap<NodeId, mpsc::Sender<Box<Established>>>>,
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    match accept(&ctx, &acceptor, tcp, remote).await {
        Ok(conn) => {
            if let Some(link) = links.get(&conn.peer) {
                // Fails only when the transport is shutting down.
                let _ = link.send(Box::new(conn)).await;
            }
        }
        Err(error) => {
            warn!(node = %ctx.config.name, %remote, error = %error, "connection refused");
            ctx.stats.refused.inc();
            ctx.emit(LinkEvent::Refused { remote, error });
        }
    }
}
