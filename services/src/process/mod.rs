//! Running one role of a protocol as its own process, over the TLS transport.
//!
//! A [`Host`] is one node started from its configuration file
//! ([`NodeConfig`]): the TLS transport, the node's router and a [`Node`] on
//! them, and its [`Placement`] in one protocol's sessions (the file's
//! `[roster.PROTOCOL]` section: family sizes, where every peer runs, and so
//! which peer this node plays). The per-protocol adapters
//! ([`guardian_ceremony`]) build the role's service state, open or accept
//! sessions on the host and report every outcome as a line of text; the
//! `choreo-role` binary parses the command line and prints those lines.
//!
//! What a process prints, one line each: `listening NAME ADDRESS` once it
//! listens (the ready line of
//! [`NodeProcess`](choreo_runtime::transport::tls::testing::NodeProcess)),
//! `up NODE VERSION`, `down NODE REASON` and `refused ADDRESS ERROR` for link
//! events, then the adapter's lines (`PEER: ...`), ending with one
//! `PEER: outcome ...` or `PEER: failed (CLASS) ...` line per session.

pub mod guardian_ceremony;

use std::sync::Arc;
use std::time::Duration;

use choreo_runtime::transport::tls::{Placement, RosterProblem, TlsError};
use choreo_runtime::{
    ErrorKind, LinkEvent, Node, NodeConfig, NodeId, NodeOptions, Peer, Protocol, Router,
    TlsTransport,
};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::ServiceError;

/// Where a process's lines go (standard output in `choreo-role`).
pub type Out = Arc<dyn Fn(String) + Send + Sync>;

/// Why a host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The transport could not start (bad certificate or key, address in use, ...).
    #[error("{0}")]
    Transport(#[from] TlsError),
    /// The roster section does not fit the protocol or the node.
    #[error("{file}: {problem}")]
    Roster {
        /// The configuration file.
        file: String,
        /// What is wrong.
        problem: RosterProblem,
    },
    /// The node plays more than one peer of the protocol.
    #[error("{file}: roster.{protocol}: this node plays {plays}; a process plays one peer")]
    SeveralPeers {
        /// The configuration file.
        file: String,
        /// The protocol.
        protocol: &'static str,
        /// The peers it plays.
        plays: String,
    },
}

/// One node of a protocol's sessions, running in this process.
pub struct Host {
    /// The node: sessions are joined and accepted here.
    pub node: Node<TlsTransport>,
    /// Its transport (link events, addresses, statistics).
    pub transport: TlsTransport,
    /// Its configuration.
    pub config: NodeConfig,
    /// Where it stands in the protocol's sessions.
    pub placement: Placement,
    /// The one peer it plays.
    pub me: Peer,
}

impl Host {
    /// Starts the node of `config` (read from `file`) for `protocol`'s
    /// sessions: the roster section is resolved first, then the transport
    /// starts listening and dialing. Must run inside a tokio runtime; on a
    /// current-thread runtime nothing of the transport runs before the
    /// caller's next `.await`, so listeners made before it miss no session.
    pub fn start(
        config: NodeConfig,
        file: &str,
        protocol: &'static Protocol,
    ) -> Result<Host, HostError> {
        let placement = config
            .placement(protocol)
            .map_err(|problem| HostError::Roster {
                file: file.to_string(),
                problem,
            })?;
        let me = match placement.plays.as_slice() {
            [me] => *me,
            several => {
                let plays: Vec<String> = several.iter().map(Peer::to_string).collect();
                return Err(HostError::SeveralPeers {
                    file: file.to_string(),
                    protocol: protocol.name,
                    plays: plays.join(", "),
                });
            }
        };
        let router = Router::new(config.name.clone(), config.max_frame);
        let transport = TlsTransport::start(config.clone(), router.clone())?;
        let options = NodeOptions {
            max_frame: config.max_frame,
            timeout: placement
                .receive_timeout
                .unwrap_or(choreo_runtime::DEFAULT_TIMEOUT),
            ..NodeOptions::default()
        };
        let node = Node::new(transport.clone(), router, options);
        Ok(Host {
            node,
            transport,
            config,
            placement,
            me,
        })
    }

    /// The ready line: `listening NAME ADDRESS`.
    pub fn ready_line(&self) -> String {
        choreo_runtime::transport::tls::testing::ready_line(
            &self.config.name,
            self.transport.local_addr(),
        )
    }

    /// Prints every link event from now on, as long as the transport runs.
    pub fn report_links(&self, out: Out) {
        let mut events = self.transport.events();
        tokio::spawn(async move {
            loop {
                let line = match events.recv().await {
                    Ok(LinkEvent::Up {
                        node, negotiated, ..
                    }) => format!("up {node} {}", negotiated.version),
                    Ok(LinkEvent::Down { node, reason, .. }) => format!("down {node} {reason}"),
                    Ok(LinkEvent::Refused { remote, error }) => format!("refused {remote} {error}"),
                    Ok(LinkEvent::DialFailed { .. }) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                out(line);
            }
        });
    }

    /// The nodes of the other peers, each once, sorted.
    pub fn other_nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self
            .placement
            .others
            .iter()
            .map(|(_, n)| n.clone())
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }

    /// Waits until this node has a link to the node of every other peer,
    /// at most `within`; the error names the nodes still missing.
    pub async fn linked(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut events = self.transport.events();
        loop {
            let missing: Vec<String> = self
                .other_nodes()
                .into_iter()
                .filter(|n| self.transport.negotiated(n).is_none())
                .map(|n| n.to_string())
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            // Any event may be the link that was missing; look again after it.
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
                Ok(Err(RecvError::Closed)) => return Err("the transport stopped".into()),
                Err(_) => {
                    return Err(format!(
                        "no link to {} within {} ms",
                        missing.join(", "),
                        within.as_millis()
                    ))
                }
            }
        }
    }
}

impl Host {
    /// Closes the node before the process exits: every frame its sessions
    /// sent is written and each connection closed, so that peers receive
    /// everything (a process that just exits loses what its transport still
    /// queues). Bounded by twice the handshake timeout; whether it closed in time.
    pub async fn close(&self) -> bool {
        self.transport
            .close(2 * self.config.timeouts.handshake)
            .await
    }
}

/// A short, stable name for the kind of error that ended a session, for
/// lines that tests and scripts match: `cancelled`, `peer-gone`, `timeout`,
/// `send-failed`, `refused`, `unverified`, `invalid`, `missing`, `journal`,
/// `runtime`.
pub fn error_class(error: &ServiceError) -> &'static str {
    match error {
        ServiceError::Cancelled { .. } => "cancelled",
        ServiceError::Refused(_) => "refused",
        ServiceError::Invalid(_) => "invalid",
        ServiceError::Missing(_) => "missing",
        ServiceError::Unverified { .. } => "unverified",
        ServiceError::Journal(_) => "journal",
        ServiceError::Runtime(e) => match e.kind() {
            ErrorKind::PeerGone { .. } => "peer-gone",
            ErrorKind::Timeout { .. } => "timeout",
            ErrorKind::Send(_) => "send-failed",
            ErrorKind::Cancelled { .. } => "cancelled",
            _ => "runtime",
        },
    }
}

/// How many of a process's sessions ended with an outcome, and how many failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Sessions that ended with a domain outcome (committed, aborted, ...).
    pub outcomes: u32,
    /// Sessions that ended with an error.
    pub failures: u32,
}

impl Tally {
    /// Whether every session ended with an outcome.
    pub fn all_ended_well(&self) -> bool {
        self.failures == 0
    }
}
