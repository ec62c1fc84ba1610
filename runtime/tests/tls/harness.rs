//! The TLS tests' harness: clusters on loopback with fast timeouts, an
//! `Inbound` that records what arrives, a raw TLS client speaking the wire
//! format by hand, and a log capture to check that refusals are logged.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use choreo_runtime::transport::contract::{Inbound, NodeId, SendPermit, Transport};
use choreo_runtime::transport::tls::handshake::{fresh_nonce, Answer, Hello, VersionPolicy};
use choreo_runtime::transport::tls::identity::{client_config, SERVER_NAME};
use choreo_runtime::transport::tls::testing::Cluster;
use choreo_runtime::transport::tls::wire::{Frame, WireCodec, ANSWER, HANDSHAKE_MAX, HELLO};
use choreo_runtime::transport::tls::{
    LinkEvent, LocalIdentity, NodeConfig, PeerBook, Timeouts, TlsError, TlsTransport,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;

/// Generous bound on anything a test waits for (a hang guard, not a
/// performance assertion).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Timeouts small enough for tests to see keep-alive and reconnection quickly.
pub fn fast_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(3),
        handshake: Duration::from_secs(2),
        keepalive_interval: Duration::from_millis(100),
        keepalive_timeout: Duration::from_millis(700),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
    }
}

/// A fresh folder for certificates and configurations, removed at the end.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary folder")
}

/// A cluster of `names` in `dir` with fast timeouts and every listener bound.
pub fn cluster(dir: &Path, names: &[&str]) -> (Cluster, Vec<(NodeId, std::net::TcpListener)>) {
    let mut cluster = Cluster::generate(dir, names).expect("certificates");
    cluster.configure(|c| c.timeouts = fast_timeouts());
    let listeners = cluster.bind_all().expect("listeners").into_iter().collect();
    (cluster, listeners)
}

/// Records what a node receives.
#[derive(Default)]
pub struct Recorder {
    frames: Mutex<Option<mpsc::UnboundedSender<(NodeId, Bytes)>>>,
    downs: Mutex<Option<mpsc::UnboundedSender<(NodeId, String)>>>,
}

/// The receiving ends of a [`Recorder`].
pub struct Received {
    pub frames: mpsc::UnboundedReceiver<(NodeId, Bytes)>,
    pub downs: mpsc::UnboundedReceiver<(NodeId, String)>,
}

impl Recorder {
    pub fn new() -> (Arc<Recorder>, Received) {
        let (ftx, frames) = mpsc::unbounded_channel();
        let (dtx, downs) = mpsc::unbounded_channel();
        let recorder = Recorder {
            frames: Mutex::new(Some(ftx)),
            downs: Mutex::new(Some(dtx)),
        };
        (Arc::new(recorder), Received { frames, downs })
    }
}

impl Inbound for Recorder {
    async fn deliver(&self, from: &NodeId, frame: Bytes) {
        if let Some(tx) = &*self.frames.lock().unwrap() {
            let _ = tx.send((from.clone(), frame));
        }
    }

    fn link_down(&self, node: &NodeId, reason: &str) {
        if let Some(tx) = &*self.downs.lock().unwrap() {
            let _ = tx.send((node.clone(), reason.to_string()));
        }
    }
}

impl Received {
    /// The next frame, or a failure after [`PATIENCE`].
    pub async fn frame(&mut self) -> (NodeId, Bytes) {
        tokio::time::timeout(PATIENCE, self.frames.recv())
            .await
            .expect("a frame in time")
            .expect("recorder open")
    }

    /// The next link-down notice, or a failure after [`PATIENCE`].
    pub async fn down(&mut self) -> (NodeId, String) {
        tokio::time::timeout(PATIENCE, self.downs.recv())
            .await
            .expect("a link-down in time")
            .expect("recorder open")
    }
}

/// A running node and what it received.
pub struct Node {
    pub transport: TlsTransport,
    pub received: Received,
    pub events: broadcast::Receiver<LinkEvent>,
}

/// Starts `name` of `cluster` on its listener from `listeners`.
pub fn start(
    cluster: &Cluster,
    listeners: &mut Vec<(NodeId, std::net::TcpListener)>,
    name: &str,
) -> Node {
    let config = cluster.config(name).expect("node in cluster").clone();
    start_config(config, listeners, name)
}

/// Starts `name` with `config` on its listener from `listeners`.
pub fn start_config(
    config: NodeConfig,
    listeners: &mut Vec<(NodeId, std::net::TcpListener)>,
    name: &str,
) -> Node {
    let at = listeners
        .iter()
        .position(|(n, _)| n.as_str() == name)
        .expect("listener for node");
    let (_, listener) = listeners.remove(at);
    let (recorder, received) = Recorder::new();
    let transport = TlsTransport::start_with_listener(config, listener, recorder).expect("start");
    let events = transport.events();
    Node {
        transport,
        received,
        events,
    }
}

/// Reserves and sends `frame` from `transport` to `to`.
pub async fn send(transport: &TlsTransport, to: &str, frame: impl Into<Bytes>) {
    let permit = tokio::time::timeout(PATIENCE, transport.reserve(&NodeId::new(to)))
        .await
        .expect("a permit in time")
        .expect("a permit");
    permit.send(frame.into());
}

/// Waits for the first event satisfying `pick`.
pub async fn event<T>(
    events: &mut broadcast::Receiver<LinkEvent>,
    mut pick: impl FnMut(&LinkEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("events closed"),
            }
        }
    })
    .await
    .expect("the event in time")
}

/// The error of the next refused incoming connection.
pub async fn refusal(events: &mut broadcast::Receiver<LinkEvent>) -> TlsError {
    event(events, |e| match e {
        LinkEvent::Refused { error, .. } => Some(error.clone()),
        _ => None,
    })
    .await
}

/// Frames `0..n` tagged with `tag`, for order checks.
pub fn numbered(tag: &str, i: u32) -> Bytes {
    Bytes::from(format!("{tag}:{i:06}"))
}

/// Checks that `from` delivered `tag:0..n` in order (frames from other nodes
/// interleave freely).
pub async fn expect_in_order(received: &mut Received, senders: &[(&str, &str)], n: u32) {
    let mut next: Vec<u32> = vec![0; senders.len()];
    let total = n as usize * senders.len();
    for _ in 0..total {
        let (from, frame) = received.frame().await;
        let k = senders
            .iter()
            .position(|(s, _)| *s == from.as_str())
            .unwrap_or_else(|| panic!("frame from unexpected node {from}"));
        assert_eq!(frame, numbered(senders[k].1, next[k]), "order from {from}");
        next[k] += 1;
    }
}

/// A TLS connection made by hand with the credentials of `as_node` (its
/// certificate file and key in `dir`), accepting only the certificate of
/// `server` (whose PEM is in `dir` too), framed with the transport's codec.
pub async fn raw_client(
    dir: &Path,
    as_node: &str,
    server: &str,
    address: std::net::SocketAddr,
) -> std::io::Result<Framed<TlsStream<TcpStream>, WireCodec>> {
    let local = LocalIdentity::load(
        &dir.join(format!("{as_node}.pem")),
        &dir.join(format!("{as_node}.key")),
    )
    .expect("client identity");
    let server_cert = LocalIdentity::load(
        &dir.join(format!("{server}.pem")),
        &dir.join(format!("{server}.key")),
    )
    .expect("server identity");
    let mut book = PeerBook::new();
    book.insert(server_cert.fingerprint(), NodeId::new(server));
    let config = client_config(&local, Arc::new(book), NodeId::new(server)).expect("client config");
    let tcp = TcpStream::connect(address).await?;
    let name = SERVER_NAME.try_into().expect("server name");
    let tls = TlsConnector::from(config).connect(name, tcp).await?;
    Ok(Framed::new(tls, WireCodec::new(HANDSHAKE_MAX)))
}

/// Sends a hello claiming to be `claim` with `policy` and `nonce`.
pub async fn send_hello(
    framed: &mut Framed<TlsStream<TcpStream>, WireCodec>,
    claim: &str,
    policy: &VersionPolicy,
    nonce: [u8; 16],
) -> std::io::Result<()> {
    let hello = Hello::new(&NodeId::new(claim), policy, nonce);
    framed
        .send(Frame {
            kind: HELLO,
            payload: hello.encode(),
        })
        .await
}

/// Reads the server's hello (returning its nonce), then its answer if any.
pub async fn read_hello(framed: &mut Framed<TlsStream<TcpStream>, WireCodec>) -> Hello {
    let frame = framed.next().await.expect("a frame").expect("readable");
    assert_eq!(frame[0], HELLO);
    postcard::from_bytes(&frame[1..]).expect("a hello")
}

/// Reads the next answer.
pub async fn read_answer(framed: &mut Framed<TlsStream<TcpStream>, WireCodec>) -> Option<Answer> {
    let frame = framed.next().await?.ok()?;
    assert_eq!(frame[0], ANSWER);
    postcard::from_bytes(&frame[1..]).ok()
}

/// Runs a complete, correct handshake as `claim` and returns the server's hello.
pub async fn handshake_as(
    framed: &mut Framed<TlsStream<TcpStream>, WireCodec>,
    claim: &str,
    nonce: [u8; 16],
) -> Hello {
    let policy = VersionPolicy::default();
    send_hello(framed, claim, &policy, nonce)
        .await
        .expect("hello sent");
    let theirs = read_hello(framed).await;
    let answer = Answer::Accepted {
        echo: theirs.nonce,
        negotiated: policy.version.to_string(),
        capabilities: policy.capabilities.iter().cloned().collect(),
    };
    framed
        .send(Frame {
            kind: ANSWER,
            payload: answer.encode(),
        })
        .await
        .expect("answer sent");
    match read_answer(framed).await {
        Some(Answer::Accepted { echo, .. }) => assert_eq!(echo, nonce),
        other => panic!("handshake not accepted: {other:?}"),
    }
    theirs
}

/// A new random nonce.
pub fn nonce() -> [u8; 16] {
    fresh_nonce().expect("nonce")
}

/// Everything logged by the test binary so far (installs the capture on first use).
pub fn logs() -> String {
    let buffer = log_buffer();
    let bytes = buffer.lock().unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Installs the log capture (idempotent).
pub fn capture_logs() {
    let _ = log_buffer();
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until the log has a line containing every one of `parts`.
pub async fn expect_log(parts: &[&str]) {
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            if logs().lines().any(|l| parts.iter().all(|p| l.contains(p))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "no log line with {parts:?} in:\n{}", logs());
}
