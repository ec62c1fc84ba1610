//! Helpers for tests and demos on one machine: a [`Cluster`] of node
//! configurations with certificates made at run time, and [`NodeProcess`], a
//! node running as a child process (for kill tests and multi-process demos).
//!
//! Addresses: with the lower name dialing, a node needs only the addresses of
//! the peers whose names are greater. So processes can be started from the
//! greatest name down, each on port 0, reporting its address on its standard
//! output ([`ready_line`]) before the next one's configuration is written:
//! no port is ever guessed.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::transport::contract::NodeId;

use super::config::{ExpectedIdentity, NodeConfig, PeerConfig};
use super::error::TlsError;
use super::identity::GeneratedIdentity;

/// Node configurations for a set of nodes that all know each other.
#[derive(Clone, Debug)]
pub struct Cluster {
    dir: PathBuf,
    nodes: BTreeMap<NodeId, NodeConfig>,
}

impl Cluster {
    /// Makes a certificate and key for every name (written to `dir` as
    /// `NAME.pem` and `NAME.key`) and a configuration for every node listening
    /// on `127.0.0.1:0`, with every other node as a peer bound to its
    /// certificate's fingerprint. Peer addresses are unknown until
    /// [`Cluster::set_address`] or [`Cluster::bind_all`].
    pub fn generate(dir: &Path, names: &[&str]) -> Result<Cluster, TlsError> {
        let mut identities = BTreeMap::new();
        for name in names {
            let id = GeneratedIdentity::generate(name)?;
            let (cert, key) = (
                dir.join(format!("{name}.pem")),
                dir.join(format!("{name}.key")),
            );
            id.write(&cert, &key).map_err(|e| TlsError::Pem {
                path: cert.clone(),
                problem: e.to_string(),
            })?;
            identities.insert(NodeId::new(*name), (id, cert, key));
        }
        let mut nodes = BTreeMap::new();
        for (name, (_, cert, key)) in &identities {
            let mut config = NodeConfig::new(name.as_str(), "127.0.0.1:0", cert, key);
            config.peers = identities
                .iter()
                .filter(|(other, _)| *other != name)
                .map(|(other, (id, _, _))| PeerConfig {
                    name: other.clone(),
                    address: None,
                    identity: ExpectedIdentity::Fingerprint(id.fingerprint),
                })
                .collect();
            nodes.insert(name.clone(), config);
        }
        Ok(Cluster {
            dir: dir.to_path_buf(),
            nodes,
        })
    }

    /// The configuration of `name`.
    pub fn config(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes.get(&NodeId::new(name))
    }

    /// The configuration of `name`, to change.
    pub fn config_mut(&mut self, name: &str) -> Option<&mut NodeConfig> {
        self.nodes.get_mut(&NodeId::new(name))
    }

    /// Applies `change` to every node's configuration.
    pub fn configure(&mut self, mut change: impl FnMut(&mut NodeConfig)) {
        self.nodes.values_mut().for_each(&mut change);
    }

    /// Records that `name` listens on `address`, in every other node's peer list.
    pub fn set_address(&mut self, name: &str, address: SocketAddr) {
        for config in self.nodes.values_mut() {
            for peer in &mut config.peers {
                if peer.name.as_str() == name {
                    peer.address = Some(address.to_string());
                }
            }
        }
    }

    /// Binds a listener on `127.0.0.1:0` for every node and records the
    /// addresses; start each node with
    /// [`super::TlsTransport::start_with_listener`] and its listener.
    pub fn bind_all(&mut self) -> Result<BTreeMap<NodeId, std::net::TcpListener>, TlsError> {
        let mut listeners = BTreeMap::new();
        let names: Vec<NodeId> = self.nodes.keys().cloned().collect();
        for name in names {
            let io = |e: std::io::Error| TlsError::Io {
                context: "binding a loopback listener",
                message: e.to_string(),
            };
            let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io)?;
            self.set_address(name.as_str(), listener.local_addr().map_err(io)?);
            listeners.insert(name, listener);
        }
        Ok(listeners)
    }

    /// Writes the configuration of `name` to `NAME.toml` in the cluster's
    /// folder and returns the path.
    pub fn write_config(&self, name: &str) -> std::io::Result<PathBuf> {
        let config = self.config(name).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no node {name}"))
        })?;
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, config.to_toml())?;
        Ok(path)
    }

    /// The node names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &NodeId> {
        self.nodes.keys()
    }

    /// Writes the configuration of `name`, runs `program --config FILE` with
    /// `args` after it, waits (at most `ready_within`) for its ready line and
    /// records the address it reported in every other node's peer list.
    pub async fn spawn(
        &mut self,
        name: &str,
        program: &Path,
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
        ready_within: Duration,
    ) -> std::io::Result<NodeProcess> {
        let config = self.write_config(name)?;
        let mut all: Vec<std::ffi::OsString> = vec!["--config".into(), config.into_os_string()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        let process = NodeProcess::spawn(program, all, ready_within).await?;
        self.set_address(name, process.address);
        Ok(process)
    }

    /// Starts every node as a process (see [`Cluster::spawn`]), from the
    /// greatest name down so that each one's configuration has the addresses
    /// of the nodes it dials; `args` gives each node's extra arguments. If
    /// one fails to start, those already started are killed (dropped).
    pub async fn spawn_all(
        &mut self,
        program: &Path,
        mut args: impl FnMut(&NodeId) -> Vec<std::ffi::OsString>,
        ready_within: Duration,
    ) -> std::io::Result<BTreeMap<NodeId, NodeProcess>> {
        let names: Vec<NodeId> = self.nodes.keys().rev().cloned().collect();
        let mut started = BTreeMap::new();
        for name in names {
            let extra = args(&name);
            let process = self
                .spawn(name.as_str(), program, extra, ready_within)
                .await?;
            started.insert(name, process);
        }
        Ok(started)
    }
}

/// The line a node process prints on its standard output once it listens.
pub fn ready_line(name: &NodeId, address: SocketAddr) -> String {
    format!("listening {name} {address}")
}

/// A node running as a child process that prints [`ready_line`] when it
/// listens. Killed (SIGKILL) when dropped.
pub struct NodeProcess {
    child: Child,
    /// The node's name, as it reported it.
    pub name: NodeId,
    /// The address it listens on, as it reported it.
    pub address: SocketAddr,
    lines: mpsc::UnboundedReceiver<String>,
    transcript: Vec<String>,
}

/// How a [`NodeProcess`] ended: its exit status and every line it printed.
#[derive(Debug)]
pub struct Finished {
    /// The exit status.
    pub status: ExitStatus,
    /// Every line of its standard output, the ready line included.
    pub transcript: Vec<String>,
}

impl NodeProcess {
    /// Runs `program` with `args` and waits (at most `ready_within`) for its
    /// ready line; its later output lines are kept for [`NodeProcess::next_line`].
    pub async fn spawn(
        program: &Path,
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
        ready_within: Duration,
    ) -> std::io::Result<NodeProcess> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("child has no stdout"))?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut transcript = Vec::new();
        let ready = tokio::time::timeout(ready_within, async {
            while let Some(line) = rx.recv().await {
                let mut words = line.split_whitespace();
                let ready = match (words.next(), words.next(), words.next()) {
                    (Some("listening"), Some(name), Some(addr)) => addr
                        .parse()
                        .ok()
                        .map(|address: SocketAddr| (NodeId::new(name), address)),
                    _ => None,
                };
                transcript.push(line);
                if ready.is_some() {
                    return ready;
                }
            }
            None
        })
        .await;
        match ready {
            Ok(Some((name, address))) => Ok(NodeProcess {
                child,
                name,
                address,
                lines: rx,
                transcript,
            }),
            Ok(None) => {
                let status = child.wait().await?;
                Err(std::io::Error::other(format!(
                    "{} exited ({status}) before listening",
                    program.display()
                )))
            }
            Err(_) => {
                child.start_kill()?;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{} did not listen within {ready_within:?}",
                        program.display()
                    ),
                ))
            }
        }
    }

    /// The next line the process printed, waiting at most `within`.
    pub async fn next_line(&mut self, within: Duration) -> Option<String> {
        let line = tokio::time::timeout(within, self.lines.recv())
            .await
            .ok()
            .flatten()?;
        self.transcript.push(line.clone());
        Some(line)
    }

    /// Reads lines until one satisfies `pick` (returned), waiting at most
    /// `within` in all; `None` if the time runs out or the output ends first.
    pub async fn line_where(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = self.next_line(left).await?;
            if pick(&line) {
                return Some(line);
            }
        }
    }

    /// Every line read so far (the ready line and those before it included).
    pub fn transcript(&self) -> &[String] {
        &self.transcript
    }

    /// Waits (at most `within`) for the process to close its output and
    /// exit, and returns how it ended with everything it printed; if it has
    /// not exited in time it is killed and the error says so.
    pub async fn wait(mut self, within: Duration) -> std::io::Result<Finished> {
        let ended = tokio::time::timeout(within, async {
            while let Some(line) = self.lines.recv().await {
                self.transcript.push(line);
            }
            self.child.wait().await
        })
        .await;
        match ended {
            Ok(status) => Ok(Finished {
                status: status?,
                transcript: self.transcript,
            }),
            Err(_) => {
                self.child.start_kill()?;
                let _ = self.child.wait().await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("node {} did not exit within {within:?}", self.name),
                ))
            }
        }
    }

    /// Kills the process with SIGKILL (no chance to clean up) and reaps it.
    pub async fn kill(&mut self) -> std::io::Result<ExitStatus> {
        self.child.start_kill()?;
        self.child.wait().await
    }

    /// The operating system's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }
}
