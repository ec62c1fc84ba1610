//! The node configuration file (TOML): who this node is, where it listens,
//! its certificate and key, limits and timeouts, and each peer's name, address
//! and expected identity. See `docs/deployment.md` for the format.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::transport::contract::NodeId;

use super::handshake::{VersionPolicy, PROTOCOL_VERSION};
use super::identity::Fingerprint;
use super::roster::{self, FileRoster, RosterConfig};

/// The default largest frame, in bytes (1 MiB).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;
/// The largest `max_frame` a configuration may ask for (64 MiB).
pub const MAX_MAX_FRAME: usize = 64 << 20;
/// The default number of data frames that may wait per peer before `reserve` waits.
pub const DEFAULT_SEND_BUFFER: usize = 256;

/// A node's configuration: the file's content, checked, with relative paths
/// resolved against the file's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// This node's name; peers know it by this name.
    pub name: NodeId,
    /// The address to listen on (`host:port`; port 0 picks a free one).
    pub listen: String,
    /// This node's certificate chain (PEM), leaf first.
    pub certificate: PathBuf,
    /// This node's private key (PEM, PKCS#8, SEC1 or PKCS#1).
    pub private_key: PathBuf,
    /// The largest data frame carried, in bytes.
    pub max_frame: usize,
    /// Data frames that may wait per peer before [`crate::transport::contract::Transport::reserve`] waits.
    pub send_buffer: usize,
    /// Timeouts and the reconnection backoff.
    pub timeouts: Timeouts,
    /// The version and capabilities this node announces in the handshake.
    pub protocol: VersionPolicy,
    /// The other nodes, sorted by name.
    pub peers: Vec<PeerConfig>,
    /// Per protocol name, the `[roster.NAME]` section: how that protocol's
    /// sessions are laid out and which peers this node plays (see [`super::roster`]).
    pub rosters: BTreeMap<String, RosterConfig>,
}

/// Timeouts of a node, and its reconnection backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long frames wait for a link to their node before they are dropped
    /// and the node is reported down.
    pub connect: Duration,
    /// Bound on TCP connect + TLS handshake + version handshake.
    pub handshake: Duration,
    /// How often a ping is sent on an idle or busy link.
    pub keepalive_interval: Duration,
    /// A link on which nothing arrives for this long is considered dead.
    pub keepalive_timeout: Duration,
    /// First delay between two dial attempts.
    pub backoff_initial: Duration,
    /// Largest delay between two dial attempts (the delay doubles up to it).
    pub backoff_max: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
        }
    }
}

/// One peer node as this node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's name.
    pub name: NodeId,
    /// Where it listens; required for peers this node dials (names greater
    /// than this node's), unused for the others.
    pub address: Option<String>,
    /// The certificate it must present.
    pub identity: ExpectedIdentity,
}

/// How the configuration names the certificate a peer must present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectedIdentity {
    /// The SHA-256 fingerprint of its DER certificate.
    Fingerprint(Fingerprint),
    /// A PEM file holding its certificate (the first one in the file).
    Certificate(PathBuf),
}

/// A configuration that cannot be used, naming the file and the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct ConfigError {
    /// The configuration file (`<memory>` for one built in code).
    pub file: PathBuf,
    /// What is wrong.
    pub problem: ConfigProblem,
}

/// What is wrong with a node configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    /// The file cannot be read.
    #[error("cannot read: {0}")]
    Read(String),
    /// The file is not valid TOML or does not have the expected fields
    /// (the message carries line and column).
    #[error("{0}")]
    Syntax(String),
    /// A node name is empty, too long, or has characters outside
    /// `A-Z a-z 0-9 . _ - [ ]` (brackets for the roster's default names such
    /// as `Guardian[0]`).
    #[error("invalid node name {0:?}: use 1 to 64 characters from A-Z a-z 0-9 . _ - [ ]")]
    InvalidName(String),
    /// Two peers have the same name.
    #[error("peer {0:?} is listed twice")]
    DuplicatePeer(String),
    /// A peer has this node's own name.
    #[error("peer {0:?} has this node's own name")]
    PeerIsSelf(String),
    /// A peer gives neither or both of `fingerprint` and `certificate`.
    #[error("peer {0:?} needs exactly one of `fingerprint` and `certificate`")]
    PeerIdentity(String),
    /// A fingerprint is not `sha256:` followed by 64 hex digits.
    #[error("peer {peer:?}: invalid fingerprint {value:?}: expected sha256: and 64 hex digits")]
    InvalidFingerprint {
        /// The peer.
        peer: String,
        /// The value given.
        value: String,
    },
    /// Two peers are bound to the same certificate.
    #[error("peers {0:?} and {1:?} are bound to the same certificate")]
    SharedIdentity(String, String),
    /// A peer this node dials has no address.
    #[error("peer {0:?} has no address, but this node dials it (its name is greater)")]
    MissingAddress(String),
    /// `max_frame` is 0 or above [`MAX_MAX_FRAME`].
    #[error("max_frame = {0}: must be between 1 and {MAX_MAX_FRAME}")]
    MaxFrame(u64),
    /// `send_buffer` is 0 or absurdly large.
    #[error("send_buffer = {0}: must be between 1 and 65536")]
    SendBuffer(u64),
    /// A timeout is zero or inconsistent with another.
    #[error("timeouts.{field}: {why}")]
    Timeout {
        /// The field.
        field: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// A version is not semver.
    #[error("protocol.{field} = {value:?} is not a semantic version: {message}")]
    Version {
        /// `version` or `min_version`.
        field: &'static str,
        /// The value.
        value: String,
        /// The parser's message.
        message: String,
    },
    /// `min_version` is greater than `version`.
    #[error("protocol.min_version {min} is greater than protocol.version {version}")]
    MinimumAboveVersion {
        /// The minimum.
        min: String,
        /// The version.
        version: String,
    },
    /// A roster section names a peer that is not `Role` or `Family[k]`.
    #[error("roster.{protocol}.nodes: {peer:?} is not a peer name (Role or Family[k])")]
    RosterPeer {
        /// The section's protocol.
        protocol: String,
        /// The name given.
        peer: String,
    },
    /// A roster section is inconsistent (an empty family, a zero timeout, a
    /// node that is neither this node nor one of its peers).
    #[error("roster.{protocol}: {what}")]
    Roster {
        /// The section's protocol.
        protocol: String,
        /// What is wrong.
        what: String,
    },
}

/// The file as written (all optional fields optional).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    listen: String,
    certificate: PathBuf,
    private_key: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_frame: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    send_buffer: Option<u64>,
    #[serde(default)]
    timeouts: FileTimeouts,
    #[serde(default)]
    protocol: FileProtocol,
    #[serde(default, rename = "peer")]
    peers: Vec<FilePeer>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    roster: BTreeMap<String, FileRoster>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTimeouts {
    connect_ms: Option<u64>,
    handshake_ms: Option<u64>,
    keepalive_interval_ms: Option<u64>,
    keepalive_timeout_ms: Option<u64>,
    backoff_initial_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProtocol {
    version: Option<String>,
    min_version: Option<String>,
    capabilities: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePeer {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<PathBuf>,
}

/// The placeholder file name of configurations built in code.
const IN_MEMORY: &str = "<memory>";

impl NodeConfig {
    /// Reads and checks the configuration file at `path`; relative paths in it
    /// are taken relative to the file's folder.
    pub fn load(path: impl AsRef<Path>) -> Result<NodeConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            problem: ConfigProblem::Read(e.to_string()),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        Self::parse(&text, path, base)
    }

    /// Checks `text` as the content of the file `file`, resolving relative
    /// paths against `base`.
    pub fn parse(text: &str, file: &Path, base: &Path) -> Result<NodeConfig, ConfigError> {
        let fail = |problem| ConfigError {
            file: file.to_path_buf(),
            problem,
        };
        let raw: File =
            toml::from_str(text).map_err(|e| fail(ConfigProblem::Syntax(e.to_string())))?;
        let config = from_file(raw, base).map_err(fail)?;
        config.check().map_err(|e| ConfigError {
            file: file.to_path_buf(),
            problem: e.problem,
        })?;
        Ok(config)
    }

    /// A configuration with the default limits, timeouts and protocol policy.
    pub fn new(
        name: &str,
        listen: impl Into<String>,
        certificate: impl Into<PathBuf>,
        private_key: impl Into<PathBuf>,
    ) -> NodeConfig {
        NodeConfig {
            name: NodeId::new(name),
            listen: listen.into(),
            certificate: certificate.into(),
            private_key: private_key.into(),
            max_frame: DEFAULT_MAX_FRAME,
            send_buffer: DEFAULT_SEND_BUFFER,
            timeouts: Timeouts::default(),
            protocol: VersionPolicy::default(),
            peers: Vec::new(),
            rosters: BTreeMap::new(),
        }
    }

    /// The peer called `name`.
    pub fn peer(&self, name: &NodeId) -> Option<&PeerConfig> {
        self.peers.iter().find(|p| &p.name == name)
    }

    /// Whether this node dials `peer` (the lower name dials) rather than
    /// waiting for it to dial in.
    pub fn dials(&self, peer: &NodeId) -> bool {
        self.name < *peer
    }

    /// Checks a configuration built in code as [`NodeConfig::load`] checks a file.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.check_inner().map_err(|problem| ConfigError {
            file: PathBuf::from(IN_MEMORY),
            problem,
        })
    }

    fn check_inner(&self) -> Result<(), ConfigProblem> {
        check_name(self.name.as_str())?;
        if self.max_frame == 0 || self.max_frame > MAX_MAX_FRAME {
            return Err(ConfigProblem::MaxFrame(self.max_frame as u64));
        }
        if self.send_buffer == 0 || self.send_buffer > 65536 {
            return Err(ConfigProblem::SendBuffer(self.send_buffer as u64));
        }
        check_timeouts(&self.timeouts)?;
        if self
            .protocol
            .min_version
            .cmp_precedence(&self.protocol.version)
            .is_gt()
        {
            return Err(ConfigProblem::MinimumAboveVersion {
                min: self.protocol.min_version.to_string(),
                version: self.protocol.version.to_string(),
            });
        }
        let mut names = BTreeSet::new();
        let mut prints = BTreeMap::new();
        for peer in &self.peers {
            check_name(peer.name.as_str())?;
            if peer.name == self.name {
                return Err(ConfigProblem::PeerIsSelf(peer.name.to_string()));
            }
            if !names.insert(peer.name.clone()) {
                return Err(ConfigProblem::DuplicatePeer(peer.name.to_string()));
            }
            if self.dials(&peer.name) && peer.address.is_none() {
                return Err(ConfigProblem::MissingAddress(peer.name.to_string()));
            }
            if let ExpectedIdentity::Fingerprint(f) = &peer.identity {
                if let Some(other) = prints.insert(*f, peer.name.clone()) {
                    return Err(ConfigProblem::SharedIdentity(
                        other.to_string(),
                        peer.name.to_string(),
                    ));
                }
            }
        }
        roster::check(self)
    }

    /// The configuration as TOML, in the format [`NodeConfig::load`] reads.
    pub fn to_toml(&self) -> String {
        let t = &self.timeouts;
        let ms = |d: Duration| Some(d.as_millis() as u64);
        let file = File {
            name: self.name.to_string(),
            listen: self.listen.clone(),
            certificate: self.certificate.clone(),
            private_key: self.private_key.clone(),
            max_frame: Some(self.max_frame as u64),
            send_buffer: Some(self.send_buffer as u64),
            timeouts: FileTimeouts {
                connect_ms: ms(t.connect),
                handshake_ms: ms(t.handshake),
                keepalive_interval_ms: ms(t.keepalive_interval),
                keepalive_timeout_ms: ms(t.keepalive_timeout),
                backoff_initial_ms: ms(t.backoff_initial),
                backoff_max_ms: ms(t.backoff_max),
            },
            protocol: FileProtocol {
                version: Some(self.protocol.version.to_string()),
                min_version: Some(self.protocol.min_version.to_string()),
                capabilities: Some(self.protocol.capabilities.iter().cloned().collect()),
            },
            peers: self
                .peers
                .iter()
                .map(|p| FilePeer {
                    name: p.name.to_string(),
                    address: p.address.clone(),
                    fingerprint: match &p.identity {
                        ExpectedIdentity::Fingerprint(f) => Some(f.to_string()),
                        ExpectedIdentity::Certificate(_) => None,
                    },
                    certificate: match &p.identity {
                        ExpectedIdentity::Fingerprint(_) => None,
                        ExpectedIdentity::Certificate(path) => Some(path.clone()),
                    },
                })
                .collect(),
            roster: self
                .rosters
                .iter()
                .map(|(name, r)| (name.clone(), FileRoster::write(r)))
                .collect(),
        };
        // Serializing plain strings, integers and tables cannot fail.
        toml::to_string(&file).unwrap_or_default()
    }
}

fn from_file(raw: File, base: &Path) -> Result<NodeConfig, ConfigProblem> {
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let defaults = Timeouts::default();
    let ms = |v: Option<u64>, d: Duration| v.map(Duration::from_millis).unwrap_or(d);
    let t = &raw.timeouts;
    let timeouts = Timeouts {
        connect: ms(t.connect_ms, defaults.connect),
        handshake: ms(t.handshake_ms, defaults.handshake),
        keepalive_interval: ms(t.keepalive_interval_ms, defaults.keepalive_interval),
        keepalive_timeout: ms(t.keepalive_timeout_ms, defaults.keepalive_timeout),
        backoff_initial: ms(t.backoff_initial_ms, defaults.backoff_initial),
        backoff_max: ms(t.backoff_max_ms, defaults.backoff_max),
    };
    let version = parse_version("version", raw.protocol.version.as_deref())?;
    let min_version = match raw.protocol.min_version.as_deref() {
        Some(v) => parse_version("min_version", Some(v))?,
        None => version.clone(),
    };
    let capabilities = match raw.protocol.capabilities {
        Some(c) => c.into_iter().collect(),
        None => VersionPolicy::default().capabilities,
    };
    let max_frame = raw.max_frame.unwrap_or(DEFAULT_MAX_FRAME as u64);
    if max_frame == 0 || max_frame > MAX_MAX_FRAME as u64 {
        return Err(ConfigProblem::MaxFrame(max_frame));
    }
    let send_buffer = raw.send_buffer.unwrap_or(DEFAULT_SEND_BUFFER as u64);
    if send_buffer == 0 || send_buffer > 65536 {
        return Err(ConfigProblem::SendBuffer(send_buffer));
    }
    let mut peers = Vec::with_capacity(raw.peers.len());
    for p in raw.peers {
        let identity = match (p.fingerprint, p.certificate) {
            (Some(f), None) => ExpectedIdentity::Fingerprint(f.parse().map_err(|_| {
                ConfigProblem::InvalidFingerprint {
                    peer: p.name.clone(),
                    value: f.clone(),
                }
            })?),
            (None, Some(c)) => ExpectedIdentity::Certificate(resolve(c)),
            _ => return Err(ConfigProblem::PeerIdentity(p.name)),
        };
        peers.push(PeerConfig {
            name: NodeId::new(p.name),
            address: p.address,
            identity,
        });
    }
    peers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rosters = BTreeMap::new();
    for (protocol, section) in raw.roster {
        let section = section.read(&protocol)?;
        rosters.insert(protocol, section);
    }
    Ok(NodeConfig {
        name: NodeId::new(raw.name),
        listen: raw.listen,
        certificate: resolve(raw.certificate),
        private_key: resolve(raw.private_key),
        max_frame: max_frame as usize,
        send_buffer: send_buffer as usize,
        timeouts,
        protocol: VersionPolicy {
            version,
            min_version,
            capabilities,
        },
        peers,
        rosters,
    })
}

fn parse_version(
    field: &'static str,
    value: Option<&str>,
) -> Result<semver::Version, ConfigProblem> {
    let value = value.unwrap_or(PROTOCOL_VERSION);
    semver::Version::parse(value).map_err(|e| ConfigProblem::Version {
        field,
        value: value.to_string(),
        message: e.to_string(),
    })
}

fn check_name(name: &str) -> Result<(), ConfigProblem> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'[' | b']'));
    if ok {
        Ok(())
    } else {
        Err(ConfigProblem::InvalidName(name.to_string()))
    }
}

fn check_timeouts(t: &Timeouts) -> Result<(), ConfigProblem> {
    let fields = [
        ("connect_ms", t.connect),
        ("handshake_ms", t.handshake),
        ("keepalive_interval_ms", t.keepalive_interval),
        ("keepalive_timeout_ms", t.keepalive_timeout),
        ("backoff_initial_ms", t.backoff_initial),
        ("backoff_max_ms", t.backoff_max),
    ];
    for (field, d) in fields {
        if d.is_zero() {
            return Err(ConfigProblem::Timeout {
                field,
                why: "must be at least 1 ms",
            });
        }
    }
    if t.keepalive_timeout <= t.keepalive_interval {
        return Err(ConfigProblem::Timeout {
            field: "keepalive_timeout_ms",
            why: "must be greater than keepalive_interval_ms, or every link expires",
        });
    }
    if t.backoff_max < t.backoff_initial {
        return Err(ConfigProblem::Timeout {
            field: "backoff_max_ms",
            why: "must be at least backoff_initial_ms",
        });
    }
    Ok(())
}

impl fmt::Display for ExpectedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedIdentity::Fingerprint(p) => write!(f, "{p}"),
            ExpectedIdentity::Certificate(path) => write!(f, "certificate {}", path.display()),
        }
    }
}
