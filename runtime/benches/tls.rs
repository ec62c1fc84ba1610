//! The TLS transport on loopback against a hand-written tokio-rustls
//! ping-pong: frame round trip (64 B, 1 KiB, 16 KiB) and throughput of 1 KiB
//! frames, one way and both ways at once.
//!
//! Both sides use the same certificates, the same rustls configurations
//! (TLS 1.3, ring, pinned certificates) and the same framing (the transport's
//! `WireCodec`); the difference measured is the transport's machinery (send
//! queues, the link task, the `Inbound` hand-off). Both nodes run in this one
//! process on one two-thread tokio runtime: a two-process measurement comes
//! with the session layer.
//!
//! Run: `cargo bench -p choreo-runtime --bench tls`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use choreo_runtime::transport::contract::{Inbound, NodeId, SendPermit, Transport};
use choreo_runtime::transport::tls::identity::{client_config, server_config, SERVER_NAME};
use choreo_runtime::transport::tls::testing::Cluster;
use choreo_runtime::transport::tls::wire::{Frame, WireCodec};
use choreo_runtime::transport::tls::{LocalIdentity, PeerBook, TlsTransport, WeakTlsTransport};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::Framed;

const ROUNDS: u32 = 5_000;
const RUNS: usize = 5;
const SIZES: [usize; 3] = [64, 1024, 16 * 1024];
const STREAM_FRAMES: u64 = 100_000;
const STREAM_SIZE: usize = 1024;

/// Set once the figures are printed: links then go down as the nodes stop.
static FINISHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Echoes (node `b`) or forwards to a channel (node `a`), and counts bytes.
struct Bench {
    echo_via: OnceLock<WeakTlsTransport>,
    forward: Option<mpsc::UnboundedSender<Bytes>>,
    bytes: AtomicU64,
    frames: AtomicU64,
    target: AtomicU64,
    done: Notify,
}

impl Bench {
    fn new(forward: Option<mpsc::UnboundedSender<Bytes>>) -> Arc<Bench> {
        Arc::new(Bench {
            echo_via: OnceLock::new(),
            forward,
            bytes: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            done: Notify::new(),
        })
    }

    fn expect(&self, frames: u64) {
        self.frames.store(0, Ordering::SeqCst);
        self.bytes.store(0, Ordering::SeqCst);
        self.target.store(frames, Ordering::SeqCst);
    }
}

impl Inbound for Bench {
    async fn deliver(&self, from: &NodeId, frame: Bytes) {
        if self.target.load(Ordering::Relaxed) != u64::MAX {
            self.bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
            let n = self.frames.fetch_add(1, Ordering::Relaxed) + 1;
            if n == self.target.load(Ordering::Relaxed) {
                self.done.notify_one();
            }
            return;
        }
        if let Some(tx) = &self.forward {
            let _ = tx.send(frame);
        } else if let Some(t) = self.echo_via.get().and_then(WeakTlsTransport::upgrade) {
            if let Ok(p) = t.reserve(from).await {
                p.send(frame);
            }
        }
    }

    fn link_down(&self, node: &NodeId, reason: &str) {
        if !FINISHED.load(Ordering::SeqCst) {
            eprintln!("link to {node} down during the bench: {reason}");
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut cluster = Cluster::generate(dir.path(), &["a", "b"]).expect("certificates");
    let mut listeners = cluster.bind_all().expect("listeners");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (a_in, b_in) = (Bench::new(Some(tx)), Bench::new(None));
    let b = TlsTransport::start_with_listener(
        cluster.config("b").expect("b").clone(),
        listeners.remove(&NodeId::new("b")).expect("listener b"),
        b_in.clone(),
    )
    .expect("start b");
    let _ = b_in.echo_via.set(b.downgrade());
    let a = TlsTransport::start_with_listener(
        cluster.config("a").expect("a").clone(),
        listeners.remove(&NodeId::new("a")).expect("listener a"),
        a_in.clone(),
    )
    .expect("start a");
    let (to_a, to_b) = (NodeId::new("a"), NodeId::new("b"));

    let mut raw = RawPair::connect(dir.path()).await;

    println!(
        "frame round trip on loopback, {ROUNDS} rounds, median of {RUNS} runs (one process, 2 worker threads)"
    );
    for size in SIZES {
        let payload = Bytes::from(vec![0x5a; size]);
        // Run 0 warms up; the median of the others counts.
        let (mut transport, mut hand) = (Vec::new(), Vec::new());
        for run in 0..=RUNS {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                a.reserve(&to_b)
                    .await
                    .expect("permit")
                    .send(payload.clone());
                rx.recv().await.expect("echo");
            }
            let t = start.elapsed();
            let start = Instant::now();
            for _ in 0..ROUNDS {
                raw.round_trip(payload.clone()).await;
            }
            if run > 0 {
                transport.push(t);
                hand.push(start.elapsed());
            }
        }
        let (transport, hand) = (median(transport), median(hand));
        let us = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(ROUNDS);
        println!(
            "{size:>6} B   TlsTransport {:>7.1} us   hand-written tokio-rustls {:>7.1} us   ratio {:.2}x",
            us(transport),
            us(hand),
            transport.as_secs_f64() / hand.as_secs_f64()
        );
    }

    println!("throughput of {STREAM_FRAMES} frames of {STREAM_SIZE} B");
    let payload = Bytes::from(vec![0xa5; STREAM_SIZE]);
    let mb =
        |frames: u64, d: Duration| (frames * STREAM_SIZE as u64) as f64 / 1e6 / d.as_secs_f64();
    // One way, a -> b.
    b_in.expect(STREAM_FRAMES);
    let start = Instant::now();
    for _ in 0..STREAM_FRAMES {
        a.reserve(&to_b)
            .await
            .expect("permit")
            .send(payload.clone());
    }
    b_in.done.notified().await;
    let one_way = start.elapsed();
    // Both ways at once.
    a_in.expect(STREAM_FRAMES);
    b_in.expect(STREAM_FRAMES);
    let start = Instant::now();
    let (pa, pb) = (payload.clone(), payload.clone());
    let (ta, tb) = (a.clone(), b.clone());
    let (ba, bb) = (to_b.clone(), to_a.clone());
    let send_ab = tokio::spawn(async move {
        for _ in 0..STREAM_FRAMES {
            ta.reserve(&ba).await.expect("permit").send(pa.clone());
        }
    });
    let send_ba = tokio::spawn(async move {
        for _ in 0..STREAM_FRAMES {
            tb.reserve(&bb).await.expect("permit").send(pb.clone());
        }
    });
    tokio::join!(a_in.done.notified(), b_in.done.notified());
    let both = start.elapsed();
    let _ = tokio::join!(send_ab, send_ba);
    let raw_one = raw.stream(payload.clone(), false).await;
    let raw_both = raw.stream(payload, true).await;
    println!(
        "one way     TlsTransport {:>7.1} MB/s   hand-written {:>7.1} MB/s",
        mb(STREAM_FRAMES, one_way),
        mb(STREAM_FRAMES, raw_one)
    );
    println!(
        "both ways   TlsTransport {:>7.1} MB/s   hand-written {:>7.1} MB/s   (sum of both directions)",
        mb(2 * STREAM_FRAMES, both),
        mb(2 * STREAM_FRAMES, raw_both)
    );
    FINISHED.store(true, Ordering::SeqCst);
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

type Conn<S> = Framed<S, WireCodec>;

/// The hand-written side: one tokio-rustls connection from `a` to `b`
/// (b echoes, or counts in stream mode), framed with the same codec.
struct RawPair {
    client: Conn<tokio_rustls::client::TlsStream<TcpStream>>,
    control: mpsc::UnboundedSender<(u64, bool)>,
    finished: mpsc::UnboundedReceiver<()>,
}

impl RawPair {
    async fn connect(dir: &std::path::Path) -> RawPair {
        let load = |n: &str| {
            LocalIdentity::load(&dir.join(format!("{n}.pem")), &dir.join(format!("{n}.key")))
                .expect("identity")
        };
        let (a, b) = (load("a"), load("b"));
        let mut book = PeerBook::new();
        book.insert(a.fingerprint(), NodeId::new("a"));
        book.insert(b.fingerprint(), NodeId::new("b"));
        let book = Arc::new(book);
        let acceptor = TlsAcceptor::from(server_config(&b, book.clone()).expect("server"));
        let connector =
            TlsConnector::from(client_config(&a, book, NodeId::new("b")).expect("client"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (control, mut orders) = mpsc::unbounded_channel::<(u64, bool)>();
        let (done, finished) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            tcp.set_nodelay(true).expect("nodelay");
            let tls = acceptor.accept(tcp).await.expect("tls accept");
            let mut server = Framed::new(tls, WireCodec::new(1 << 20));
            // Echo until told to count `n` frames (and, both ways, send `n` too).
            loop {
                // Orders first: the client sends one before its stream's first frame.
                tokio::select! {
                    biased;
                    order = orders.recv() => {
                        let Some((n, both)) = order else { return };
                        let payload = Bytes::from(vec![0xa5; STREAM_SIZE]);
                        let (mut sink, mut stream) = server.split();
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
                        server = sink.reunite(stream).expect("same connection");
                        let _ = done.send(());
                    }
                    frame = server.next() => {
                        let Some(Ok(mut frame)) = frame else { return };
                        let payload = frame.split_off(1).freeze();
                        server.send(Frame::data(payload)).await.expect("echo");
                    }
                }
            }
        });
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = SERVER_NAME.try_into().expect("server name");
        let tls = connector.connect(name, tcp).await.expect("tls connect");
        RawPair {
            client: Framed::new(tls, WireCodec::new(1 << 20)),
            control,
            finished,
        }
    }

    async fn round_trip(&mut self, payload: Bytes) {
        self.client.send(Frame::data(payload)).await.expect("send");
        self.client.next().await.expect("echo").expect("readable");
    }

    /// Streams `STREAM_FRAMES` frames to the server (and, `both`, as many back).
    async fn stream(&mut self, payload: Bytes, both: bool) -> Duration {
        self.control
            .send((STREAM_FRAMES, both))
            .expect("server running");
        let start = Instant::now();
        let (mut sink, mut stream) = (&mut self.client).split();
        let sending = async {
            for _ in 0..STREAM_FRAMES {
                sink.feed(Frame::data(payload.clone())).await.expect("feed");
            }
            sink.flush().await.expect("flush");
        };
        let receiving = async {
            if both {
                for _ in 0..STREAM_FRAMES {
                    stream.next().await.expect("frame").expect("readable");
                }
            }
        };
        tokio::join!(sending, receiving);
        self.finished.recv().await.expect("server counted");
        start.elapsed()
    }
}
