//! One connection: establishing it (TCP, TLS, version handshake) from either
//! side, then driving it (writing queued frames and pings, reading frames into
//! the node's [`Inbound`], watching the keep-alive) until it fails.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::pin::pin;
use tokio::net::TcpStream;

use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, MissedTickBehavior};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};
use tokio_util::codec::Framed;
use tracing::debug;

use crate::transport::contract::{Inbound, NodeId};

use super::error::TlsError;
use super::handshake::{exchange, Negotiated, Sides};
use super::identity::{server_name, Fingerprint};
use super::wire::{Frame, WireCodec, DATA, HANDSHAKE_MAX, PING};
use super::Context;

/// Frames written in one go before flushing.
const WRITE_BATCH: usize = 64;

/// A connection that passed TLS and the version handshake.
pub(crate) struct Established {
    pub framed: Framed<TlsStream<TcpStream>, WireCodec>,
    pub peer: NodeId,
    pub negotiated: Negotiated,
    pub remote: SocketAddr,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Dials `peer` at `address`: TCP, TLS (only `peer`'s certificate accepted),
/// then the version handshake, all within the handshake timeout.
pub(crate) async fn dial(
    ctx: &Context,
    connector: &TlsConnector,
    peer: &NodeId,
    address: &str,
) -> Result<Established, TlsError> {
    let bound = ctx.config.timeouts.handshake;
    let attempt = async {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| TlsError::io("connecting", &e, HANDSHAKE_MAX))?;
        tcp.set_nodelay(true)
            .map_err(|e| TlsError::io("setting TCP_NODELAY", &e, HANDSHAKE_MAX))?;
        let remote = tcp
            .peer_addr()
            .map_err(|e| TlsError::io("connecting", &e, HANDSHAKE_MAX))?;
        let tls = connector
            .connect(server_name()?, tcp)
            .await
            .map_err(|e| TlsError::io("TLS handshake", &e, HANDSHAKE_MAX))?;
        finish(ctx, TlsStream::Client(tls), peer.clone(), remote, false).await
    };
    timeout(bound, attempt)
        .await
        .unwrap_or(Err(TlsError::Timeout {
            what: "dialing and handshaking",
            after_ms: ms(bound),
        }))
}

/// Accepts a connection that arrived from `remote`: TLS (a known client
/// certificate required), then the version handshake, within the handshake
/// timeout.
pub(crate) async fn accept(
    ctx: &Context,
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
) -> Result<Established, TlsError> {
    let bound = ctx.config.timeouts.handshake;
    let attempt = async {
        tcp.set_nodelay(true)
            .map_err(|e| TlsError::io("setting TCP_NODELAY", &e, HANDSHAKE_MAX))?;
        let tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| TlsError::io("TLS handshake", &e, HANDSHAKE_MAX))?;
        let fingerprint = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| Fingerprint::of(c))
            .ok_or_else(|| TlsError::Tls("the client presented no certificate".to_string()))?;
        let peer = ctx
            .book
            .node_of(&fingerprint)
            .cloned()
            .ok_or(TlsError::UnknownCertificate { fingerprint })?;
        finish(ctx, TlsStream::Server(tls), peer, remote, true).await
    };
    timeout(bound, attempt)
        .await
        .unwrap_or(Err(TlsError::Timeout {
            what: "accepting and handshaking",
            after_ms: ms(bound),
        }))
}

async fn finish(
    ctx: &Context,
    tls: TlsStream<TcpStream>,
    peer: NodeId,
    remote: SocketAddr,
    accepted: bool,
) -> Result<Established, TlsError> {
    let mut framed = Framed::new(tls, WireCodec::new(HANDSHAKE_MAX));
    let sides = Sides {
        local: &ctx.config.name,
        peer: &peer,
        accepted,
    };
    let negotiated = exchange(&mut framed, &ctx.config.protocol, &ctx.nonces, sides).await?;
    framed.codec_mut().set_max(ctx.config.max_frame + 1);
    Ok(Established {
        framed,
        peer,
        negotiated,
        remote,
    })
}

/// The frames waiting for a node: control frames first, then data.
pub(crate) struct Queues {
    pub ctrl: mpsc::Receiver<Bytes>,
    pub data: mpsc::Receiver<Bytes>,
}

impl Queues {
    /// The next frame to send (control first); `None` once the transport is gone.
    pub async fn next(&mut self) -> Option<Bytes> {
        tokio::select! {
            biased;
            Some(c) = self.ctrl.recv() => Some(c),
            d = self.data.recv() => d,
        }
    }

    /// The next waiting frame (control first), if one is waiting.
    pub fn try_next(&mut self) -> Option<Bytes> {
        self.ctrl.try_recv().or_else(|_| self.data.try_recv()).ok()
    }

    /// Discards every waiting frame; returns how many.
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while self.try_next().is_some() {
            n += 1;
        }
        n
    }
}

/// How a connection ended.
pub(crate) enum End {
    /// It failed (or the peer closed it).
    Failed(TlsError),
    /// A newer connection from the same node arrived.
    Replaced(Box<Established>),
    /// The transport is shutting down.
    Shutdown,
}

/// How the writer of a connection stopped without an error.
enum Stopped {
    /// Every queue sender is gone: the transport was dropped.
    Gone,
    /// The transport closes: everything was written and the connection closed.
    Closed,
}

/// Runs `conn` until it fails: sends `held` then queued frames and a ping
/// every keep-alive interval, hands arriving data frames to `inbound`
/// (waiting while it is full), and fails when nothing arrives within the
/// keep-alive timeout (time spent waiting on `inbound` does not count).
/// When `closing` is set, writes whatever is queued, closes the connection
/// (TLS `close_notify`) and reads on until the peer closes its side too
/// (at most the handshake timeout).
pub(crate) async fn drive<I: Inbound>(
    ctx: &Context,
    conn: Established,
    held: Option<Bytes>,
    queues: &mut Queues,
    inbound: &I,
    incoming: &mut mpsc::Receiver<Box<Established>>,
    closing: &mut watch::Receiver<bool>,
) -> End {
    let peer = conn.peer;
    let (mut sink, mut stream) = conn.framed.split();
    let timeouts = ctx.config.timeouts;
    let max_frame = ctx.config.max_frame;
    let reader = async {
        loop {
            let next = match timeout(timeouts.keepalive_timeout, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    return TlsError::KeepAliveExpired {
                        after_ms: ms(timeouts.keepalive_timeout),
                    }
                }
            };
            let mut frame = match next {
                None => return TlsError::ClosedByPeer,
                Some(Err(e)) => return TlsError::io("reading", &e, max_frame),
                Some(Ok(frame)) => frame,
            };
            match frame.first().copied() {
                Some(DATA) => {
                    let payload = frame.split_off(1).freeze();
                    ctx.stats.received.inc();
                    inbound.deliver(&peer, payload).await;
                }
                Some(PING) => {}
                other => {
                    return TlsError::UnexpectedFrame {
                        kind: other.unwrap_or(0),
                    }
                }
            }
        }
    };
    // Resolves once the transport closes (never, if it is dropped instead).
    let mut closed = pin!(async {
        if closing.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    });
    let writer = async {
        let fail = |e: std::io::Error| TlsError::io("writing", &e, max_frame);
        let mut ping = tokio::time::interval(timeouts.keepalive_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        if let Some(frame) = held {
            sink.feed(Frame::data(frame)).await.map_err(fail)?;
            ctx.stats.sent.inc();
        }
        loop {
            let first = tokio::select! {
                biased;
                frame = queues.next() => match frame {
                    Some(f) => Frame::data(f),
                    None => return Ok::<Stopped, TlsError>(Stopped::Gone),
                },
                () = &mut closed => {
                    while let Some(frame) = queues.try_next() {
                        sink.feed(Frame::data(frame)).await.map_err(fail)?;
                        ctx.stats.sent.inc();
                    }
                    sink.close().await.map_err(fail)?;
                    return Ok(Stopped::Closed);
                }
                _ = ping.tick() => Frame { kind: PING, payload: Bytes::new() },
            };
            let is_data = first.kind == DATA;
            sink.feed(first).await.map_err(fail)?;
            ctx.stats.sent.add(u64::from(is_data));
            for _ in 0..WRITE_BATCH {
                let Some(frame) = queues.try_next() else {
                    break;
                };
                sink.feed(Frame::data(frame)).await.map_err(fail)?;
                ctx.stats.sent.inc();
            }
            sink.flush().await.map_err(fail)?;
        }
    };
    let mut reader = pin!(reader);
    let stopped = tokio::select! {
        err = &mut reader => return End::Failed(err),
        res = writer => res,
        newer = incoming.recv() => return match newer {
            Some(conn) => {
                debug!(node = %ctx.config.name, peer = %conn.peer, "a newer connection replaces the current one");
                End::Replaced(conn)
            }
            None => End::Shutdown,
        },
    };
    match stopped {
        Ok(Stopped::Gone) => End::Shutdown,
        Ok(Stopped::Closed) => {
            // Frames the peer sent before it saw the close still arrive.
            let _ = timeout(timeouts.handshake, &mut reader).await;
            End::Shutdown
        }
        Err(err) => End::Failed(err),
    }
}
