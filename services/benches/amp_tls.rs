//! AmpTransport between two processes over the TLS transport on loopback,
//! through the generated runners, against a hand-written tokio-rustls
//! ping-pong between the same two processes, in one run.
//!
//! Run: `cargo bench -p choreo-services --bench amp_tls` (add `-- --workers 2`
//! for two-thread tokio runtimes in both processes instead of one thread;
//! `-- --profile` runs only the runners' one-way throughput, for perf).
//!
//! - **Round trip**: one AmpTransport session of [`ROUNDS`] `AmpMessage` /
//!   `AmpReceipt` rounds with 64-byte envelopes, run by the generated Sender
//!   (this process, node `a`) and Receiver (a child process, node `b`, this
//!   same binary started with `--peer`), guards on; time per round. The
//!   hand-written side is one tokio-rustls connection between the same two
//!   processes, same certificates and rustls configurations, same framing
//!   (the transport's `WireCodec`), sending a frame exactly as long as the
//!   runners' `AmpMessage` frame and answering with one exactly as long as
//!   their `AmpReceipt` frame (both measured on the first session).
//! - **Throughput**: [`SESSIONS`] AmpTransport sessions at once in each
//!   direction (each process is the Sender of half of them), windows of
//!   [`WINDOW`] 1 KiB envelopes; MB/s of envelopes, both directions summed,
//!   and with only `a` sending. The hand-written side exchanges the same
//!   frames in the same pattern on its one connection: as many messages in
//!   flight as there are sessions, each answered by a receipt-sized frame
//!   (and, for reference, a stream of message frames without receipts: the
//!   bound the wire allows).
//!
//! Each figure is the median of [`RUNS`] runs after one warm-up run; each
//! run measures the generated and the hand-written side one after the
//! other, so that load from elsewhere on the machine hits both alike.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use choreo_amp_transport as amp;
use choreo_runtime::transport::contract::Inbound;
use choreo_runtime::transport::tls::identity::{client_config, server_config, SERVER_NAME};
use choreo_runtime::transport::tls::testing::Cluster;
use choreo_runtime::transport::tls::wire::{Frame, WireCodec};
use choreo_runtime::transport::tls::{LocalIdentity, NodeConfig, PeerBook};
use choreo_runtime::{
    Listener, Node, NodeId, NodeOptions, Peer, RoleContext, Roster, Router, TlsTransport,
};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::Framed;

const ROUNDS: u64 = 5_000;
const RUNS: usize = 5;
const SMALL: usize = 64;
const BIG: usize = 1024;
const SESSIONS: usize = 64;
const WINDOW: u64 = 250;

// ---------------------------------------------------------------- the roles

/// Payloads: envelopes are opaque bytes of the size measured.
struct Types;
impl amp::Types for Types {
    type ChannelOpen = u64;
    type ChannelAccept = u64;
    type AmpEnvelope = Vec<u8>;
    type ChannelClose = u64;
}

/// A Sender of `envelope`, numbering its messages and checking each receipt.
struct Sender {
    envelope: Vec<u8>,
    sent: u64,
}

impl amp::Sender for Sender {
    type Types = Types;
    type Error = String;
    async fn channel_open(&mut self, _: Peer) -> Result<u64, String> {
        Ok(1)
    }
    async fn on_channel_accept(&mut self, _: Peer, _: u64) -> Result<(), String> {
        Ok(())
    }
    async fn amp_message(&mut self, _: Peer) -> Result<Vec<u8>, String> {
        self.sent += 1;
        Ok(self.envelope.clone())
    }
    async fn on_amp_receipt(&mut self, _: Peer, msg: amp::msg::AmpReceipt) -> Result<(), String> {
        (msg.seq == self.sent)
            .then_some(())
            .ok_or_else(|| format!("receipt {} for message {}", msg.seq, self.sent))
    }
    async fn ratchet_checkpoint(&mut self, _: Peer) -> Result<amp::msg::RatchetCheckpoint, String> {
        Ok(amp::msg::RatchetCheckpoint {
            epoch: 1,
            generation: 1,
        })
    }
    async fn on_checkpoint_ack(
        &mut self,
        _: Peer,
        _: amp::msg::CheckpointAck,
    ) -> Result<(), String> {
        Ok(())
    }
    async fn channel_close(&mut self, _: Peer) -> Result<u64, String> {
        Ok(0)
    }
}

/// A Receiver receipting each envelope with its number.
#[derive(Default)]
struct Receiver(u64);

impl amp::Receiver for Receiver {
    type Types = Types;
    type Error = String;
    async fn on_channel_open(&mut self, _: Peer, _: u64) -> Result<(), String> {
        Ok(())
    }
    async fn channel_accept(&mut self, _: Peer) -> Result<u64, String> {
        Ok(1)
    }
    async fn on_amp_message(&mut self, _: Peer, _: Vec<u8>) -> Result<(), String> {
        self.0 += 1;
        Ok(())
    }
    async fn amp_receipt(&mut self, _: Peer) -> Result<amp::msg::AmpReceipt, String> {
        Ok(amp::msg::AmpReceipt {
            seq: self.0,
            digest: [7; 32],
        })
    }
    async fn on_ratchet_checkpoint(
        &mut self,
        _: Peer,
        _: amp::msg::RatchetCheckpoint,
    ) -> Result<(), String> {
        Ok(())
    }
    async fn checkpoint_ack(&mut self, _: Peer) -> Result<amp::msg::CheckpointAck, String> {
        Ok(amp::msg::CheckpointAck { generation: 1 })
    }
    async fn on_channel_close(&mut self, _: Peer, _: u64) -> Result<(), String> {
        Ok(())
    }
}

/// The roster in which `sender`'s node sends to `receiver`'s.
fn roster(sender: &str, receiver: &str) -> Roster {
    Roster::new()
        .with_role("Sender")
        .with_role("Receiver")
        .bind("Sender", None, NodeId::new(sender))
        .bind("Receiver", None, NodeId::new(receiver))
}

fn context() -> RoleContext {
    RoleContext::new()
        .with_capabilities(["amp:channel", "amp:send"])
        .with_default_budget(u64::MAX / 2)
}

/// Runs one Sender session of `window` envelopes of `size` bytes from `node`.
async fn send_window(node: &Node<TlsTransport>, roster: &Roster, window: u64, size: usize) {
    let mut ctx = context();
    let id = node.new_session_id();
    let session = node
        .session(&amp::PROTOCOL, id, roster, Peer::role("Sender"), &mut ctx)
        .expect("session");
    let mut sender = Sender {
        envelope: vec![0x5a; size],
        sent: 0,
    };
    let params = amp::Params { window };
    amp::execute_as(amp::As::Sender(&mut sender), session, &params)
        .await
        .expect("the Sender runs");
}

/// `workers` tasks, each running the Receiver of one accepted session after another.
fn serve_receivers(listener: Listener<TlsTransport>, workers: usize, window: Arc<Mutex<u64>>) {
    let listener = Arc::new(tokio::sync::Mutex::new(listener));
    for _ in 0..workers {
        let (listener, window) = (listener.clone(), window.clone());
        tokio::spawn(async move {
            loop {
                let mut ctx = context();
                let session = {
                    let mut l = listener.lock().await;
                    match l.accept(&mut ctx).await {
                        Some(s) => s,
                        None => return,
                    }
                };
                let params = amp::Params {
                    window: *window.lock().expect("window"),
                };
                let mut receiver = Receiver::default();
                if let Err(e) =
                    amp::execute_as(amp::As::Receiver(&mut receiver), session, &params).await
                {
                    eprintln!("a Receiver failed: {e}");
                }
            }
        });
    }
}

// ------------------------------------------------------------ frame sizes

/// The router, recording the length of every frame while asked to.
struct Measuring {
    router: Arc<Router>,
    on: AtomicBool,
    sizes: Mutex<BTreeMap<usize, u64>>,
}

impl Measuring {
    /// The most frequent frame length recorded since the last call.
    fn most_common(&self) -> usize {
        let mut sizes = self.sizes.lock().expect("sizes");
        let top = sizes.iter().max_by_key(|(_, n)| **n).map_or(0, |(s, _)| *s);
        sizes.clear();
        top
    }
}

impl Inbound for Measuring {
    async fn deliver(&self, from: &NodeId, frame: Bytes) {
        if self.on.load(Ordering::Relaxed) {
            *self
                .sizes
                .lock()
                .expect("sizes")
                .entry(frame.len())
                .or_default() += 1;
        }
        self.router.deliver(from, frame).await;
    }

    fn link_down(&self, node: &NodeId, reason: &str) {
        self.router.link_down(node, reason);
    }
}

/// A node of sessions on `config`, with its frame lengths measured.
fn start_node(config: NodeConfig) -> (Node<TlsTransport>, Arc<Measuring>, SocketAddr) {
    let router = Router::new(config.name.clone(), config.max_frame);
    let measuring = Arc::new(Measuring {
        router: router.clone(),
        on: AtomicBool::new(true),
        sizes: Mutex::new(BTreeMap::new()),
    });
    let options = NodeOptions {
        max_frame: config.max_frame,
        timeout: Duration::from_secs(30),
        ..NodeOptions::default()
    };
    let transport = TlsTransport::start(config, measuring.clone()).expect("the node starts");
    let address = transport.local_addr();
    (Node::new(transport, router, options), measuring, address)
}

// ------------------------------------------------------ the hand-written side

type Conn<S> = Framed<S, WireCodec>;

/// What the child's raw server does on its connection next.
#[derive(Clone, Copy, Debug)]
enum RawOrder {
    /// Answer each frame with one of this length.
    Echo(usize),
    /// Read `n` frames; `both`: send `n` frames of length `len` meanwhile.
    Stream { n: u64, len: usize, both: bool },
    /// The runners' pattern: see [`windowed`]; the child sends `own` messages.
    Windowed(Window),
}

/// Messages answered by receipts, at most `in_flight` unanswered at a time,
/// as AmpTransport sessions running at once exchange them.
#[derive(Clone, Copy, Debug)]
struct Window {
    own: u64,
    peer: u64,
    in_flight: u64,
    message: usize,
    receipt: usize,
}

/// Whether `buf` holds a whole length-delimited frame.
fn whole_frame(buf: &[u8]) -> bool {
    buf.len() >= 4 && buf.len() >= 4 + u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize
}

/// Sends `w.own` messages, each answered by a receipt, with at most
/// `w.in_flight` unanswered, and answers the peer's `w.peer` messages;
/// writes are flushed when no whole frame is left to read.
async fn windowed<S>(conn: &mut Conn<S>, w: Window)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let message = Bytes::from(vec![0x5a; w.message]);
    let receipt = Bytes::from(vec![0xa5; w.receipt]);
    let (mut sent, mut acked, mut answered) = (0, 0, 0);
    while sent < w.own && sent - acked < w.in_flight {
        conn.feed(Frame::data(message.clone())).await.expect("feed");
        sent += 1;
    }
    conn.flush().await.expect("flush");
    while acked < w.own || answered < w.peer {
        let frame = conn.next().await.expect("a frame").expect("readable");
        if frame.len() - 1 == w.message {
            conn.feed(Frame::data(receipt.clone())).await.expect("feed");
            answered += 1;
        } else {
            acked += 1;
            if sent < w.own {
                conn.feed(Frame::data(message.clone())).await.expect("feed");
                sent += 1;
            }
        }
        if !whole_frame(conn.read_buffer()) {
            conn.flush().await.expect("flush");
        }
    }
    conn.flush().await.expect("flush");
}

fn identities(dir: &Path) -> (LocalIdentity, LocalIdentity, Arc<PeerBook>) {
    let load = |n: &str| {
        LocalIdentity::load(&dir.join(format!("{n}.pem")), &dir.join(format!("{n}.key")))
            .expect("identity")
    };
    let (a, b) = (load("a"), load("b"));
    let mut book = PeerBook::new();
    book.insert(a.fingerprint(), NodeId::new("a"));
    book.insert(b.fingerprint(), NodeId::new("b"));
    (a, b, Arc::new(book))
}

/// The child's raw tokio-rustls server: one connection, following `orders`.
async fn raw_server(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    mut orders: mpsc::UnboundedReceiver<RawOrder>,
) {
    let (tcp, _) = listener.accept().await.expect("accept");
    tcp.set_nodelay(true).expect("nodelay");
    let tls = acceptor.accept(tcp).await.expect("tls accept");
    let mut conn = Framed::new(tls, WireCodec::new(1 << 20));
    while let Some(order) = orders.recv().await {
        match order {
            RawOrder::Echo(len) => {
                let answer = Bytes::from(vec![0xa5; len]);
                // Echo until the client sends an empty frame.
                while let Some(Ok(frame)) = conn.next().await {
                    if frame.len() == 1 {
                        break;
                    }
                    conn.send(Frame::data(answer.clone()))
                        .await
                        .expect("answer");
                }
            }
            RawOrder::Stream { n, len, both } => {
                let payload = Bytes::from(vec![0xa5; len]);
                let (mut sink, mut stream) = conn.split();
                let sending = async {
                    if both {
                        for _ in 0..n {
                            sink.feed(Frame::data(payload.clone())).await.expect("feed");
                        }
                        sink.flush().await.expect("flush");
                    }
                };
                let counting = async {
                    for _ in 0..n {
                        stream.next().await.expect("frame").expect("readable");
                    }
                };
                tokio::join!(sending, counting);
                conn = sink.reunite(stream).expect("one connection");
                // Tells the client the count is complete.
                conn.send(Frame::data(Bytes::new())).await.expect("done");
            }
            RawOrder::Windowed(w) => windowed(&mut conn, w).await,
        }
    }
}

/// The parent's raw client.
struct RawClient {
    conn: Conn<tokio_rustls::client::TlsStream<TcpStream>>,
}

impl RawClient {
    async fn connect(dir: &Path, address: SocketAddr) -> RawClient {
        let (a, _, book) = identities(dir);
        let connector =
            TlsConnector::from(client_config(&a, book, NodeId::new("b")).expect("client"));
        let tcp = TcpStream::connect(address).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = SERVER_NAME.try_into().expect("server name");
        let tls = connector.connect(name, tcp).await.expect("tls connect");
        RawClient {
            conn: Framed::new(tls, WireCodec::new(1 << 20)),
        }
    }

    async fn ping_pong(&mut self, len: usize, rounds: u64) -> Duration {
        let payload = Bytes::from(vec![0x5a; len]);
        let start = Instant::now();
        for _ in 0..rounds {
            self.conn
                .send(Frame::data(payload.clone()))
                .await
                .expect("send");
            self.conn.next().await.expect("answer").expect("readable");
        }
        let elapsed = start.elapsed();
        self.conn
            .send(Frame::data(Bytes::new()))
            .await
            .expect("stop");
        elapsed
    }

    async fn windowed(&mut self, w: Window) -> Duration {
        let start = Instant::now();
        windowed(&mut self.conn, w).await;
        start.elapsed()
    }

    async fn stream(&mut self, n: u64, len: usize, both: bool) -> Duration {
        let payload = Bytes::from(vec![0x5a; len]);
        let start = Instant::now();
        let (mut sink, mut stream) = (&mut self.conn).split();
        let sending = async {
            for _ in 0..n {
                sink.feed(Frame::data(payload.clone())).await.expect("feed");
            }
            sink.flush().await.expect("flush");
        };
        let receiving = async {
            let expect = if both { n + 1 } else { 1 };
            for _ in 0..expect {
                stream.next().await.expect("frame").expect("readable");
            }
        };
        tokio::join!(sending, receiving);
        start.elapsed()
    }
}

// ------------------------------------------------------------ the child (b)

async fn child(config_path: &str) {
    let config = NodeConfig::load(config_path).expect("b's configuration");
    let dir = Path::new(config_path)
        .parent()
        .expect("folder")
        .to_path_buf();
    let (node, measuring, node_address) = start_node(config);
    let window = Arc::new(Mutex::new(ROUNDS));
    let listener = node
        .listen(
            &amp::PROTOCOL,
            &roster("a", "b"),
            Peer::role("Receiver"),
            64,
        )
        .expect("listen");
    serve_receivers(listener, SESSIONS, window.clone());
    let (_, b, book) = identities(&dir);
    let acceptor = TlsAcceptor::from(server_config(&b, book).expect("server"));
    let raw = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let raw_address = raw.local_addr().expect("address");
    let (orders, raw_orders) = mpsc::unbounded_channel();
    tokio::spawn(raw_server(raw, acceptor, raw_orders));
    println!("ready {node_address} {raw_address}");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let to_a = roster("b", "a");
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["sizes"] => println!("sizes {}", measuring.most_common()),
            ["measured"] => measuring.on.store(false, Ordering::Relaxed),
            ["window", w] => {
                *window.lock().expect("window") = w.parse().expect("a window");
                println!("window set");
            }
            ["echo", len] => {
                let _ = orders.send(RawOrder::Echo(len.parse().expect("a length")));
            }
            ["stream", n, len, both] => {
                let _ = orders.send(RawOrder::Stream {
                    n: n.parse().expect("a count"),
                    len: len.parse().expect("a length"),
                    both: *both == "both",
                });
            }
            ["windowed", own, peer, in_flight, message, receipt] => {
                let n = |v: &str| v.parse::<u64>().expect("a number");
                let _ = orders.send(RawOrder::Windowed(Window {
                    own: n(own),
                    peer: n(peer),
                    in_flight: n(in_flight),
                    message: n(message) as usize,
                    receipt: n(receipt) as usize,
                }));
            }
            ["send", k, w, size] => {
                let (k, w, size): (usize, u64, usize) = (
                    k.parse().expect("k"),
                    w.parse().expect("w"),
                    size.parse().expect("size"),
                );
                let senders = (0..k).map(|_| send_window(&node, &to_a, w, size));
                futures_util::future::join_all(senders).await;
                println!("sent");
            }
            _ => panic!("unknown order {line:?}"),
        }
    }
}

// ----------------------------------------------------------- the parent (a)

/// The child process (node `b`): orders on its standard input, answers on its output.
struct Child {
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Child {
    async fn order(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the child reads");
        self.stdin.flush().await.expect("flush");
    }

    /// Sets the window of the child's Receivers, once it says it did.
    async fn window(&mut self, window: u64) {
        self.order(&format!("window {window}")).await;
        self.answer("window set").await;
    }

    async fn answer(&mut self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .next_line()
                .await
                .expect("the child's output")
                .expect("the child runs");
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn parent(workers: usize, profile: bool) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut cluster = Cluster::generate(dir.path(), &["a", "b"]).expect("certificates");
    let exe = std::env::current_exe().expect("this binary");
    let b_config = cluster.write_config("b").expect("b's configuration");
    let mut args = vec!["--peer".to_string(), b_config.display().to_string()];
    args.extend(["--workers".to_string(), workers.to_string()]);
    let mut command = Command::new(&exe);
    command
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the child starts");
    let mut peer = Child {
        stdin: child.stdin.take().expect("stdin"),
        lines: BufReader::new(child.stdout.take().expect("stdout")).lines(),
    };
    let ready = peer.answer("ready").await;
    let addresses: Vec<SocketAddr> = ready
        .split_whitespace()
        .map(|a| a.parse().expect("an address"))
        .collect();
    let [b_address, raw_address] = addresses[..] else {
        panic!("the child's ready line: {ready}");
    };
    cluster.set_address("b", b_address);
    let (a, measuring, _) = start_node(cluster.config("a").expect("a").clone());
    let window = Arc::new(Mutex::new(WINDOW));
    let listener = a
        .listen(
            &amp::PROTOCOL,
            &roster("b", "a"),
            Peer::role("Receiver"),
            64,
        )
        .expect("listen");
    serve_receivers(listener, SESSIONS, window);
    let to_b = roster("a", "b");

    // Frame lengths of 64-byte and 1 KiB envelopes and of receipts.
    peer.window(100).await;
    send_window(&a, &to_b, 100, SMALL).await;
    peer.order("sizes").await;
    let message_small: usize = peer.answer("sizes").await.parse().expect("a length");
    let receipt = measuring.most_common();

    send_window(&a, &to_b, 100, BIG).await;
    peer.order("sizes").await;
    let message_big: usize = peer.answer("sizes").await.parse().expect("a length");
    peer.order("measured").await;
    measuring.on.store(false, Ordering::Relaxed);

    let mut raw = RawClient::connect(dir.path(), raw_address).await;
    let flavor = if workers == 0 {
        "current-thread tokio runtimes".to_string()
    } else {
        format!("{workers}-thread tokio runtimes")
    };
    println!(
        "AmpTransport between two processes over TLS on loopback ({flavor}), median of {RUNS} runs"
    );

    if profile {
        // `--profile`: only the runners' one-way throughput, for perf.
        peer.window(WINDOW).await;
        for _ in 0..4 * RUNS {
            let senders = (0..SESSIONS).map(|_| send_window(&a, &to_b, WINDOW, BIG));
            futures_util::future::join_all(senders).await;
        }
        return;
    }
    // Run 0 warms up; each later run measures both sides, one after the other.
    peer.window(ROUNDS).await;
    let (mut generated, mut hand, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..=RUNS {
        let start = Instant::now();
        send_window(&a, &to_b, ROUNDS, SMALL).await;
        let g = start.elapsed();
        peer.order(&format!("echo {receipt}")).await;
        let h = raw.ping_pong(message_small, ROUNDS).await;
        if run > 0 {
            generated.push(g);
            hand.push(h);
            ratios.push(g.as_secs_f64() / h.as_secs_f64());
        }
    }
    ratios.sort_by(f64::total_cmp);
    let us = |d: Duration| d.as_secs_f64() * 1e6 / ROUNDS as f64;
    println!(
        "round trip, {ROUNDS} rounds ({SMALL} B envelope: {message_small} B message frame, {receipt} B receipt frame)"
    );
    println!(
        "  generated runners {:>7.1} us   hand-written tokio-rustls {:>7.1} us   ratio {:.2}x (median of the runs' ratios {:.2}x)",
        us(median(generated.clone())),
        us(median(hand.clone())),
        median(generated).as_secs_f64() / median(hand).as_secs_f64(),
        ratios[ratios.len() / 2]
    );

    // Throughput of 1 KiB envelopes.
    peer.window(WINDOW).await;
    let half = SESSIONS / 2;
    let frames = SESSIONS as u64 * WINDOW;
    let mut times: [Vec<Duration>; 6] = Default::default();
    // The hand-written side, windowed as the runners are: `frames` messages,
    // as many in flight as sessions run, sent by `a` alone or half by each.
    let window = |own, peer, in_flight| Window {
        own,
        peer,
        in_flight,
        message: message_big,
        receipt,
    };
    let order = |w: Window| {
        format!(
            "windowed {} {} {} {} {}",
            w.own, w.peer, w.in_flight, w.message, w.receipt
        )
    };
    let (sessions, halves) = (SESSIONS as u64, frames / 2);
    for run in 0..=RUNS {
        let start = Instant::now();
        let senders = (0..SESSIONS).map(|_| send_window(&a, &to_b, WINDOW, BIG));
        futures_util::future::join_all(senders).await;
        let one_way = start.elapsed();
        let start = Instant::now();
        peer.order(&format!("send {half} {WINDOW} {BIG}")).await;
        let senders = (0..half).map(|_| send_window(&a, &to_b, WINDOW, BIG));
        futures_util::future::join_all(senders).await;
        peer.answer("sent").await;
        let both = start.elapsed();
        peer.order(&order(window(0, frames, sessions))).await;
        let raw_window_one = raw.windowed(window(frames, 0, sessions)).await;
        let (h, hs) = (halves, sessions / 2);
        peer.order(&order(window(h, h, hs))).await;
        let raw_window_both = raw.windowed(window(h, h, hs)).await;
        peer.order(&format!("stream {frames} {message_big} one"))
            .await;
        let raw_one = raw.stream(frames, message_big, false).await;
        peer.order(&format!("stream {frames} {message_big} both"))
            .await;
        let raw_both = raw.stream(frames, message_big, true).await;
        if run > 0 {
            let all = [
                one_way,
                both,
                raw_window_one,
                raw_window_both,
                raw_one,
                raw_both,
            ];
            for (k, t) in all.into_iter().enumerate() {
                times[k].push(t);
            }
        }
    }
    let [one_way, both, raw_window_one, raw_window_both, raw_one, raw_both] = times.map(median);
    let mb = |bytes: u64, d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    let envelope_bytes = frames * BIG as u64;
    println!(
        "throughput of {BIG} B envelopes ({message_big} B frames), {SESSIONS} sessions of {WINDOW} at once"
    );
    println!("  (hand-written: the same frames, {SESSIONS} in flight, each answered by a receipt; and a stream without receipts)");
    println!(
        "  one way     generated runners {:>7.1} MB/s   hand-written {:>7.1} MB/s   ratio {:.2}x   stream {:>7.1} MB/s",
        mb(envelope_bytes, one_way),
        mb(envelope_bytes, raw_window_one),
        raw_window_one.as_secs_f64().recip() / one_way.as_secs_f64().recip(),
        mb(envelope_bytes, raw_one)
    );
    println!(
        "  both ways   generated runners {:>7.1} MB/s   hand-written {:>7.1} MB/s   ratio {:.2}x   stream {:>7.1} MB/s   (sums of both directions)",
        mb(envelope_bytes, both),
        mb(envelope_bytes, raw_window_both),
        raw_window_both.as_secs_f64().recip() / both.as_secs_f64().recip(),
        mb(2 * envelope_bytes, raw_both)
    );
    drop(peer);
    let _ = child.kill().await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workers = args
        .iter()
        .position(|a| a == "--workers")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0usize);
    let runtime = match workers {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .expect("a tokio runtime");
    match args.iter().position(|a| a == "--peer") {
        Some(i) => runtime.block_on(child(args.get(i + 1).expect("a configuration"))),
        None => runtime.block_on(parent(workers, args.iter().any(|a| a == "--profile"))),
    }
}
