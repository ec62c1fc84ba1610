//! Node identity = certificate: fingerprints, loading PEM files, the pinned
//! certificate verifiers of both TLS sides, and certificates made at run time.
//!
//! There is no certificate authority: the configuration binds each peer's name
//! to the SHA-256 fingerprint of the one certificate it must present, and both
//! sides of every connection check it (the server against every known peer,
//! the client against the node it dialed). Handshake signatures are still
//! verified by rustls with the ring provider, so presenting a certificate
//! requires its private key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::crypto::{
    ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::NoServerSessionStorage;
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};

use crate::transport::contract::NodeId;

use super::config::{ConfigError, ConfigProblem, ExpectedIdentity, NodeConfig};
use super::error::TlsError;

/// The server name every node sends and ignores: identity is the pinned
/// certificate, not a DNS name.
pub const SERVER_NAME: &str = "choreo-node.invalid";

/// The SHA-256 fingerprint of a DER certificate, written `sha256:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of the DER certificate `der`.
    pub fn of(der: &[u8]) -> Fingerprint {
        let digest = ::ring::digest::digest(&::ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Fingerprint(out)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A string that is not `sha256:` followed by 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected sha256: followed by 64 hex digits")]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("sha256:").ok_or(BadFingerprint)?.as_bytes();
        if hex.len() != 64 {
            return Err(BadFingerprint);
        }
        let digit = |c: u8| (c as char).to_digit(16).ok_or(BadFingerprint);
        let mut out = [0u8; 32];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(Fingerprint(out))
    }
}

/// This node's certificate chain and private key.
#[derive(Debug)]
pub struct LocalIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl LocalIdentity {
    /// Reads the certificate chain and the private key from PEM files.
    pub fn load(certificate: &Path, private_key: &Path) -> Result<LocalIdentity, TlsError> {
        let pem = |path: &Path| {
            std::fs::read(path).map_err(|e| TlsError::Pem {
                path: path.to_path_buf(),
                problem: e.to_string(),
            })
        };
        let (cert_pem, key_pem) = (pem(certificate)?, pem(private_key)?);
        let bad = |path: &Path, problem: String| TlsError::Pem {
            path: path.to_path_buf(),
            problem,
        };
        let chain = read_certificates(&cert_pem).map_err(|p| bad(certificate, p))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| bad(private_key, format!("no usable private key: {e}")))?;
        Ok(LocalIdentity { chain, key })
    }

    /// The identity held by PEM text (certificate chain, then private key).
    pub fn from_pem(
        certificate_pem: &str,
        private_key_pem: &str,
    ) -> Result<LocalIdentity, TlsError> {
        let chain = read_certificates(certificate_pem.as_bytes()).map_err(TlsError::Credentials)?;
        let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes())
            .map_err(|e| TlsError::Credentials(format!("no usable private key: {e}")))?;
        Ok(LocalIdentity { chain, key })
    }

    /// The fingerprint of this node's (leaf) certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        // `read_certificates` never returns an empty chain.
        self.chain
            .first()
            .map(|c| Fingerprint::of(c))
            .unwrap_or(Fingerprint([0; 32]))
    }
}

/// The certificates of a PEM file, refusing a file with none.
fn read_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM certificate: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the file".to_string());
    }
    Ok(chain)
}

/// Which certificate belongs to which peer node.
#[derive(Clone, Debug, Default)]
pub struct PeerBook {
    by_fingerprint: BTreeMap<Fingerprint, NodeId>,
}

impl PeerBook {
    /// An empty book.
    pub fn new() -> PeerBook {
        PeerBook::default()
    }

    /// The book of `config`'s peers, reading the certificate files it names.
    pub fn from_config(config: &NodeConfig, file: &Path) -> Result<PeerBook, TlsError> {
        let mut book = PeerBook::new();
        for peer in &config.peers {
            let fingerprint = match &peer.identity {
                ExpectedIdentity::Fingerprint(f) => *f,
                ExpectedIdentity::Certificate(path) => {
                    let pem = std::fs::read(path).map_err(|e| TlsError::Pem {
                        path: path.clone(),
                        problem: e.to_string(),
                    })?;
                    let chain = read_certificates(&pem).map_err(|problem| TlsError::Pem {
                        path: path.clone(),
                        problem,
                    })?;
                    Fingerprint::of(&chain[0])
                }
            };
            if let Some(other) = book.insert(fingerprint, peer.name.clone()) {
                return Err(ConfigError {
                    file: file.to_path_buf(),
                    problem: ConfigProblem::SharedIdentity(
                        other.to_string(),
                        peer.name.to_string(),
                    ),
                }
                .into());
            }
        }
        Ok(book)
    }

    /// Binds `fingerprint` to `node`; returns the node it was bound to before.
    pub fn insert(&mut self, fingerprint: Fingerprint, node: NodeId) -> Option<NodeId> {
        self.by_fingerprint.insert(fingerprint, node)
    }

    /// The node whose certificate has `fingerprint`.
    pub fn node_of(&self, fingerprint: &Fingerprint) -> Option<&NodeId> {
        self.by_fingerprint.get(fingerprint)
    }
}

/// The crypto provider used everywhere: ring (pure Rust and asm, builds
/// without cmake or a C toolchain beyond cc, much faster than aws-lc-rs here).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The TLS configuration of the accepting side: TLS 1.3 only, a client
/// certificate required and accepted only when `book` knows it.
pub fn server_config(
    local: &LocalIdentity,
    book: Arc<PeerBook>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(PinnedClients {
        book,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Credentials(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(local.chain.clone(), local.key.clone_key())
        .map_err(|e| TlsError::Credentials(e.to_string()))?;
    // No resumption: every connection presents and checks certificates anew.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// The TLS configuration for dialing `expected`: TLS 1.3 only, this node's
/// certificate presented, and only `expected`'s certificate accepted.
pub fn client_config(
    local: &LocalIdentity,
    book: Arc<PeerBook>,
    expected: NodeId,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(PinnedServer {
        book,
        expected,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Credentials(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(local.chain.clone(), local.key.clone_key())
        .map_err(|e| TlsError::Credentials(e.to_string()))?;
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// The server name sent when dialing ([`SERVER_NAME`]).
pub(crate) fn server_name() -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(SERVER_NAME).map_err(|e| TlsError::Credentials(e.to_string()))
}

/// Our verifiers' errors travel through rustls as `CertificateError::Other`;
/// this recovers them, and renders every other rustls error.
pub(crate) fn from_rustls(err: &rustls::Error) -> TlsError {
    if let rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) = err {
        if let Some(ours) = inner.downcast_ref::<TlsError>() {
            return ours.clone();
        }
    }
    TlsError::Tls(err.to_string())
}

fn refuse(err: TlsError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(err))))
}

/// Accepts a client certificate only if the book binds it to a node.
#[derive(Debug)]
struct PinnedClients {
    book: Arc<PeerBook>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let fingerprint = Fingerprint::of(end_entity);
        match self.book.node_of(&fingerprint) {
            Some(_) => Ok(ClientCertVerified::assertion()),
            None => Err(refuse(TlsError::UnknownCertificate { fingerprint })),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Accepts only the certificate of the node being dialed.
#[derive(Debug)]
struct PinnedServer {
    book: Arc<PeerBook>,
    expected: NodeId,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity);
        match self.book.node_of(&presented) {
            Some(node) if *node == self.expected => Ok(ServerCertVerified::assertion()),
            other => Err(refuse(TlsError::WrongCertificate {
                expected: self.expected.clone(),
                presented,
                belongs_to: other.cloned(),
            })),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A certificate and key made at run time for one node (tests, the demo).
#[derive(Clone, Debug)]
pub struct GeneratedIdentity {
    /// The self-signed certificate, PEM.
    pub certificate_pem: String,
    /// Its ECDSA P-256 private key, PEM (PKCS#8).
    pub private_key_pem: String,
    /// The certificate's fingerprint, for the peers' configurations.
    pub fingerprint: Fingerprint,
}

impl GeneratedIdentity {
    /// A fresh self-signed certificate for the node `name` (its subject
    /// alternative name), with a fresh key.
    pub fn generate(name: &str) -> Result<GeneratedIdentity, TlsError> {
        let certified = rcgen::generate_simple_self_signed(vec![name.to_string()])
            .map_err(|e| TlsError::Credentials(format!("cannot make a certificate: {e}")))?;
        Ok(GeneratedIdentity {
            certificate_pem: certified.cert.pem(),
            private_key_pem: certified.signing_key.serialize_pem(),
            fingerprint: Fingerprint::of(certified.cert.der()),
        })
    }

    /// Writes the certificate and the key (the key readable by its owner only).
    pub fn write(&self, certificate: &Path, private_key: &Path) -> std::io::Result<()> {
        std::fs::write(certificate, &self.certificate_pem)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(
            &mut options.open(private_key)?,
            self.private_key_pem.as_bytes(),
        )
    }

    /// The identity as this node's TLS credentials.
    pub fn local(&self) -> Result<LocalIdentity, TlsError> {
        LocalIdentity::from_pem(&self.certificate_pem, &self.private_key_pem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_print_and_parse() {
        let f = Fingerprint::of(b"some certificate bytes");
        let text = f.to_string();
        assert!(text.starts_with("sha256:") && text.len() == 7 + 64);
        assert_eq!(text.parse::<Fingerprint>(), Ok(f));
        assert_eq!(
            text.to_uppercase()
                .replace("SHA256", "sha256")
                .parse::<Fingerprint>(),
            Ok(f)
        );
        assert_eq!("sha256:12".parse::<Fingerprint>(), Err(BadFingerprint));
        assert_eq!(
            text.replace("sha256:", "md5:").parse::<Fingerprint>(),
            Err(BadFingerprint)
        );
        let bad_digit = format!("sha256:{}", "g".repeat(64));
        assert_eq!(bad_digit.parse::<Fingerprint>(), Err(BadFingerprint));
    }

    #[test]
    fn generated_identities_load_and_match_their_fingerprint() {
        let id = GeneratedIdentity::generate("node-1").unwrap();
        let local = id.local().unwrap();
        assert_eq!(local.fingerprint(), id.fingerprint);
        assert_ne!(
            GeneratedIdentity::generate("node-1").unwrap().fingerprint,
            id.fingerprint
        );
    }
}
