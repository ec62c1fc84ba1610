//! The version handshake run on every connection, inside TLS, before any data
//! frame (the seed's "Protocol Version Negotiation").
//!
//! Both sides send a [`Hello`] (node name, version, minimum version,
//! capabilities, a fresh random nonce), then both send an [`Answer`] that
//! echoes the nonce of the hello it answers: accepted with the negotiated
//! version (the lower of the two) and the shared capabilities, or rejected
//! with the reason. Compatibility is decided by [`negotiate`] from both hellos
//! alone, so both sides reach the same verdict. A hello whose nonce this node
//! has seen before is refused as a replay; an answer that does not echo this
//! connection's nonce is refused too.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use semver::{Comparator, Op, Version, VersionReq};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use crate::transport::contract::NodeId;

use super::error::TlsError;
use super::wire::{Frame, WireCodec, ANSWER, HANDSHAKE_MAX, HELLO};

/// The version of this runtime's protocol suite, announced by default.
pub const PROTOCOL_VERSION: &str = "1.0.0";

/// The capabilities announced by default (the seed's capability table).
pub const DEFAULT_CAPABILITIES: &[&str] = &["version_handshake"];

/// A nonce: 16 random bytes, fresh for every connection.
pub type Nonce = [u8; 16];

/// What a node announces: its version, the oldest version it still speaks,
/// and its capabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionPolicy {
    /// The version this node speaks.
    pub version: Version,
    /// The oldest version it accepts from a peer (and can speak with it).
    pub min_version: Version,
    /// The optional features it supports.
    pub capabilities: BTreeSet<String>,
}

impl Default for VersionPolicy {
    fn default() -> Self {
        let version = Version::new(1, 0, 0);
        VersionPolicy {
            min_version: version.clone(),
            version,
            capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        }
    }
}

/// The outcome of a compatible handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The lower of the two versions.
    pub version: Version,
    /// The capabilities both sides support.
    pub capabilities: BTreeSet<String>,
}

/// Why two versions are incompatible.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Incompatibility {
    /// The major versions differ.
    #[error("major versions differ")]
    MajorMismatch,
    /// The peer's version is below this node's minimum.
    #[error("the peer's version is below this node's minimum {minimum}")]
    PeerBelowMinimum {
        /// This node's minimum.
        minimum: String,
    },
    /// This node's version is below the peer's minimum.
    #[error("this node's version is below the peer's minimum {minimum}")]
    BelowPeerMinimum {
        /// The peer's minimum.
        minimum: String,
    },
    /// A pre-release that the other side's minimum does not admit (semver: a
    /// pre-release only satisfies a minimum that is a pre-release of the same
    /// major.minor.patch).
    #[error("pre-release {version} is not admitted by the minimum {minimum}")]
    PreRelease {
        /// The pre-release version.
        version: String,
        /// The minimum that does not admit it.
        minimum: String,
    },
}

/// Decides whether `local` and `peer` can talk, and at which version.
///
/// Compatible when the majors are equal and each side's version satisfies
/// the other's minimum as a semver requirement `>= minimum` (the `semver`
/// crate's matching, so pre-releases only match minima that opt into them and
/// build metadata is ignored). The negotiated version is the lower one, the
/// capabilities the intersection. Symmetric: both sides get the same answer.
pub fn negotiate(
    local: &VersionPolicy,
    peer: &VersionPolicy,
) -> Result<Negotiated, Incompatibility> {
    if local.version.major != peer.version.major {
        return Err(Incompatibility::MajorMismatch);
    }
    admits(&local.min_version, &peer.version, |minimum| {
        Incompatibility::PeerBelowMinimum { minimum }
    })?;
    admits(&peer.min_version, &local.version, |minimum| {
        Incompatibility::BelowPeerMinimum { minimum }
    })?;
    Ok(Negotiated {
        version: Ord::min(&local.version, &peer.version).clone(),
        capabilities: local
            .capabilities
            .intersection(&peer.capabilities)
            .cloned()
            .collect(),
    })
}

fn admits(
    minimum: &Version,
    version: &Version,
    below: impl FnOnce(String) -> Incompatibility,
) -> Result<(), Incompatibility> {
    let requirement = VersionReq {
        comparators: vec![Comparator {
            op: Op::GreaterEq,
            major: minimum.major,
            minor: Some(minimum.minor),
            patch: Some(minimum.patch),
            pre: minimum.pre.clone(),
        }],
    };
    if requirement.matches(version) {
        Ok(())
    } else if version.cmp_precedence(minimum).is_lt() {
        Err(below(minimum.to_string()))
    } else {
        Err(Incompatibility::PreRelease {
            version: version.to_string(),
            minimum: minimum.to_string(),
        })
    }
}

/// The first handshake message, sent by both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The name of the node sending it (must match its certificate).
    pub node: String,
    /// Its version (semver).
    pub version: String,
    /// Its minimum version (semver).
    pub min_version: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// A fresh nonce; the answer must echo it.
    pub nonce: Nonce,
}

/// The answer to a [`Hello`], sent by both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Compatible: the negotiated version and the shared capabilities.
    Accepted {
        /// The nonce of the hello answered.
        echo: Nonce,
        /// The negotiated version.
        negotiated: String,
        /// The shared capabilities.
        capabilities: Vec<String>,
    },
    /// Refused: why, and the refusing node's version.
    Rejected {
        /// The nonce of the hello answered (zero if it could not be read).
        echo: Nonce,
        /// The refusing node's version.
        version: String,
        /// Why.
        reason: String,
    },
}

impl Hello {
    /// The hello of a node `node` announcing `policy`, with `nonce`.
    pub fn new(node: &NodeId, policy: &VersionPolicy, nonce: Nonce) -> Hello {
        Hello {
            node: node.to_string(),
            version: policy.version.to_string(),
            min_version: policy.min_version.to_string(),
            capabilities: policy.capabilities.iter().cloned().collect(),
            nonce,
        }
    }

    /// The hello as the payload of a [`HELLO`] frame.
    pub fn encode(&self) -> Bytes {
        Bytes::from(postcard::to_stdvec(self).unwrap_or_default())
    }

    fn policy(&self) -> Result<VersionPolicy, TlsError> {
        let parse = |what: &str, v: &str| {
            Version::parse(v)
                .map_err(|e| TlsError::Malformed(format!("{what} {v:?} is not semver: {e}")))
        };
        Ok(VersionPolicy {
            version: parse("version", &self.version)?,
            min_version: parse("min_version", &self.min_version)?,
            capabilities: self.capabilities.iter().cloned().collect(),
        })
    }
}

impl Answer {
    /// The answer as the payload of an [`ANSWER`] frame.
    pub fn encode(&self) -> Bytes {
        Bytes::from(postcard::to_stdvec(self).unwrap_or_default())
    }
}

/// A fresh random nonce from the operating system (through ring).
pub fn fresh_nonce() -> Result<Nonce, TlsError> {
    use ::ring::rand::SecureRandom;
    let mut nonce = [0u8; 16];
    ::ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| TlsError::Io {
            context: "drawing a nonce",
            message: "the system random number generator failed".to_string(),
        })?;
    Ok(nonce)
}

/// The nonces this node has seen recently (its own and its peers'), to refuse
/// replayed hellos. Bounded: the oldest are forgotten first.
#[derive(Debug)]
pub struct NonceCache {
    capacity: usize,
    seen: Mutex<(VecDeque<Nonce>, HashSet<Nonce>)>,
}

impl NonceCache {
    /// A cache remembering the last `capacity` nonces.
    pub fn new(capacity: usize) -> NonceCache {
        NonceCache {
            capacity: capacity.max(1),
            seen: Mutex::new((VecDeque::new(), HashSet::new())),
        }
    }

    /// Records `nonce`; false if it was already there (a replay).
    pub fn insert(&self, nonce: Nonce) -> bool {
        let mut guard = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (order, set) = &mut *guard;
        if !set.insert(nonce) {
            return false;
        }
        order.push_back(nonce);
        if order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

/// Who this side is and whom it expects on a connection.
pub(crate) struct Sides<'a> {
    /// This node.
    pub local: &'a NodeId,
    /// The node the peer's certificate belongs to.
    pub peer: &'a NodeId,
    /// Whether the peer dialed (this side accepted the connection).
    pub accepted: bool,
}

/// Runs the handshake on `framed` (whose codec limits frames to
/// [`HANDSHAKE_MAX`]). On success nothing but the two hellos and the two
/// answers has been exchanged; on failure this side has sent at most its
/// hello and a rejection, and closed its sending side.
pub(crate) async fn exchange<S>(
    framed: &mut Framed<S, WireCodec>,
    policy: &VersionPolicy,
    nonces: &NonceCache,
    sides: Sides<'_>,
) -> Result<Negotiated, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let nonce = fresh_nonce()?;
    nonces.insert(nonce);
    send(
        framed,
        HELLO,
        Hello::new(sides.local, policy, nonce).encode(),
    )
    .await?;
    let frame = receive(framed, HELLO).await?;
    let hello: Hello = match postcard::from_bytes(&frame) {
        Ok(h) => h,
        Err(e) => {
            let err = TlsError::Malformed(format!("undecodable hello: {e}"));
            return reject(framed, policy, [0; 16], err).await;
        }
    };
    let verdict = check_hello(&hello, policy, nonces, &sides);
    let negotiated = match verdict {
        Ok(n) => n,
        Err(err) => return reject(framed, policy, hello.nonce, err).await,
    };
    let answer = Answer::Accepted {
        echo: hello.nonce,
        negotiated: negotiated.version.to_string(),
        capabilities: negotiated.capabilities.iter().cloned().collect(),
    };
    send(framed, ANSWER, answer.encode()).await?;
    let frame = receive(framed, ANSWER).await?;
    match postcard::from_bytes::<Answer>(&frame) {
        Ok(Answer::Accepted {
            echo,
            negotiated: theirs,
            capabilities,
        }) => {
            if echo != nonce {
                return Err(TlsError::NonceMismatch {
                    node: sides.peer.clone(),
                });
            }
            let same = Version::parse(&theirs).is_ok_and(|v| v == negotiated.version)
                && capabilities.iter().cloned().collect::<BTreeSet<_>>() == negotiated.capabilities;
            if !same {
                return Err(TlsError::Malformed(format!(
                    "the peer negotiated {theirs} {capabilities:?}, this node {} {:?}",
                    negotiated.version, negotiated.capabilities
                )));
            }
            Ok(negotiated)
        }
        Ok(Answer::Rejected {
            version, reason, ..
        }) => Err(TlsError::RefusedByPeer {
            peer_version: version,
            reason,
        }),
        Err(e) => Err(TlsError::Malformed(format!("undecodable answer: {e}"))),
    }
}

/// Everything this side checks in the peer's hello, in order.
fn check_hello(
    hello: &Hello,
    policy: &VersionPolicy,
    nonces: &NonceCache,
    sides: &Sides<'_>,
) -> Result<Negotiated, TlsError> {
    if hello.node != sides.peer.as_str() {
        return Err(TlsError::IdentityMismatch {
            certificate_of: sides.peer.clone(),
            claimed: hello.node.clone(),
        });
    }
    if sides.accepted && sides.peer >= sides.local {
        return Err(TlsError::WrongDirection {
            node: sides.peer.clone(),
        });
    }
    if !nonces.insert(hello.nonce) {
        return Err(TlsError::Replay {
            node: sides.peer.clone(),
        });
    }
    let theirs = hello.policy()?;
    negotiate(policy, &theirs).map_err(|reason| TlsError::Incompatible {
        local: policy.version.to_string(),
        peer: theirs.version.to_string(),
        reason,
    })
}

/// Sends a rejection for `err`, closes the sending side, and fails with `err`.
async fn reject<S>(
    framed: &mut Framed<S, WireCodec>,
    policy: &VersionPolicy,
    echo: Nonce,
    err: TlsError,
) -> Result<Negotiated, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let answer = Answer::Rejected {
        echo,
        version: policy.version.to_string(),
        reason: err.to_string(),
    };
    // Best effort: the verdict stands whether or not the peer hears it.
    let _ = send(framed, ANSWER, answer.encode()).await;
    let _ = framed.close().await;
    Err(err)
}

async fn send<S>(
    framed: &mut Framed<S, WireCodec>,
    kind: u8,
    payload: Bytes,
) -> Result<(), TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    framed
        .send(Frame { kind, payload })
        .await
        .map_err(|e| TlsError::io("sending the handshake", &e, HANDSHAKE_MAX))
}

/// The payload of the next frame, which must be of type `kind`.
async fn receive<S>(framed: &mut Framed<S, WireCodec>, kind: u8) -> Result<Bytes, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match framed.next().await {
        None => Err(TlsError::ClosedByPeer),
        Some(Err(e)) => Err(TlsError::io("reading the handshake", &e, HANDSHAKE_MAX)),
        Some(Ok(mut frame)) => {
            let got = frame.first().copied();
            if got != Some(kind) {
                return Err(TlsError::UnexpectedFrame {
                    kind: got.unwrap_or(0),
                });
            }
            Ok(frame.split_off(1).freeze())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(version: &str, min: &str, caps: &[&str]) -> VersionPolicy {
        VersionPolicy {
            version: Version::parse(version).unwrap(),
            min_version: Version::parse(min).unwrap(),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn both_ways(a: &VersionPolicy, b: &VersionPolicy) -> Result<Negotiated, Incompatibility> {
        let ab = negotiate(a, b);
        let ba = negotiate(b, a);
        assert_eq!(ab.is_ok(), ba.is_ok(), "symmetric verdict");
        if let (Ok(x), Ok(y)) = (&ab, &ba) {
            assert_eq!(x, y, "same negotiated outcome on both sides");
        }
        ab
    }

    #[test]
    fn compatible_versions_negotiate_the_lower_and_shared_capabilities() {
        let a = policy("1.4.2", "1.0.0", &["fact_journal", "version_handshake"]);
        let b = policy(
            "1.2.0",
            "1.1.0",
            &["ceremony_supersession", "version_handshake"],
        );
        let n = both_ways(&a, &b).unwrap();
        assert_eq!(n.version, Version::new(1, 2, 0));
        assert_eq!(
            n.capabilities.into_iter().collect::<Vec<_>>(),
            ["version_handshake"]
        );
    }

    #[test]
    fn majors_must_match() {
        let a = policy("1.9.0", "1.0.0", &[]);
        let b = policy("2.0.0", "1.0.0", &[]);
        assert_eq!(negotiate(&a, &b), Err(Incompatibility::MajorMismatch));
        assert_eq!(negotiate(&b, &a), Err(Incompatibility::MajorMismatch));
    }

    #[test]
    fn each_version_must_reach_the_other_minimum() {
        let old = policy("1.1.0", "1.0.0", &[]);
        let new = policy("1.3.0", "1.2.0", &[]);
        let minimum = "1.2.0".to_string();
        assert_eq!(
            negotiate(&new, &old),
            Err(Incompatibility::PeerBelowMinimum {
                minimum: minimum.clone()
            })
        );
        assert_eq!(
            negotiate(&old, &new),
            Err(Incompatibility::BelowPeerMinimum { minimum })
        );
        // Patch levels count: 1.2.0 is below a minimum of 1.2.1.
        let strict = policy("1.2.5", "1.2.1", &[]);
        assert!(negotiate(&strict, &policy("1.2.0", "1.0.0", &[])).is_err());
        assert!(both_ways(&strict, &policy("1.2.1", "1.0.0", &[])).is_ok());
    }

    #[test]
    fn pre_releases_follow_semver_matching() {
        let stable = policy("1.0.0", "1.0.0", &[]);
        // 1.1.0-beta.1 is above 1.0.0 but a pre-release: a stable minimum does not admit it.
        let beta = policy("1.1.0-beta.1", "1.0.0", &[]);
        assert_eq!(
            negotiate(&stable, &beta),
            Err(Incompatibility::PreRelease {
                version: "1.1.0-beta.1".into(),
                minimum: "1.0.0".into()
            })
        );
        // Even its own minimum of 1.0.0 does not admit the other beta.
        assert!(negotiate(&beta, &policy("1.1.0-beta.2", "1.1.0-alpha", &[])).is_err());
        // A pre-release minimum of the same release admits later pre-releases of it.
        let beta1 = policy("1.1.0-beta.1", "1.1.0-alpha", &[]);
        let beta2 = policy("1.1.0-beta.2", "1.1.0-beta.1", &[]);
        let n = both_ways(&beta1, &beta2).unwrap();
        assert_eq!(n.version.to_string(), "1.1.0-beta.1");
        assert!(both_ways(&beta2, &policy("1.1.0", "1.1.0-beta.1", &[])).is_ok());
        // A pre-release is below its release: 1.1.0-rc.1 < 1.1.0.
        assert_eq!(
            negotiate(
                &policy("1.1.0", "1.1.0", &[]),
                &policy("1.1.0-rc.1", "1.1.0-rc.1", &[])
            ),
            Err(Incompatibility::PeerBelowMinimum {
                minimum: "1.1.0".into()
            })
        );
    }

    #[test]
    fn build_metadata_does_not_matter() {
        let a = policy("1.2.0+build.7", "1.2.0", &[]);
        let b = policy("1.2.0+other", "1.2.0+x", &[]);
        assert!(both_ways(&a, &b).is_ok());
    }

    #[test]
    fn the_nonce_cache_refuses_repeats_and_forgets_the_oldest() {
        let cache = NonceCache::new(2);
        assert!(cache.insert([1; 16]));
        assert!(!cache.insert([1; 16]));
        assert!(cache.insert([2; 16]));
        assert!(cache.insert([3; 16]));
        assert!(cache.insert([1; 16]), "forgotten after two newer ones");
        assert!(!cache.insert([3; 16]));
    }

    #[test]
    fn hellos_round_trip_through_postcard() {
        let hello = Hello::new(&NodeId::new("n"), &VersionPolicy::default(), [9; 16]);
        assert_eq!(
            postcard::from_bytes::<Hello>(&hello.encode()).unwrap(),
            hello
        );
    }
}
