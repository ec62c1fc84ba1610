//! A fault-injecting TCP proxy on loopback: forwards every connection to a
//! target, and on command stops forwarding (a silently vanished peer), delays
//! each chunk, drops every connection, or cuts the next chunk in half and
//! drops the connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with the bytes it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Forward,
    /// Read and discard everything, keeping the sockets open (even when one
    /// side closes).
    Blackhole,
    /// Forward each chunk after a pause.
    Delay(Duration),
    /// Forward half of the next chunk (client to target), then drop the
    /// connection; later connections are forwarded.
    CutNext,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub address: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    generation: watch::Sender<u64>,
    accepted: Arc<Mutex<u64>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// A proxy on `127.0.0.1:0` forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let address = listener.local_addr().expect("proxy address");
        let mode = Arc::new(Mutex::new(Mode::Forward));
        let (generation, _) = watch::channel(0u64);
        let accepted = Arc::new(Mutex::new(0));
        let task = {
            let (mode, generation, accepted) = (mode.clone(), generation.clone(), accepted.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    *accepted.lock().unwrap() += 1;
                    let Ok(server) = TcpStream::connect(target).await else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let cancel = generation.subscribe();
                    tokio::spawn(pipe(client, server, mode.clone(), cancel));
                }
            })
        };
        Proxy {
            address,
            mode,
            generation,
            accepted,
            task,
        }
    }

    /// Switches to `mode` for every connection, open or future.
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Drops every open connection (new ones are still accepted).
    pub fn drop_connections(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// How many connections the proxy has accepted.
    pub fn accepted(&self) -> u64 {
        *self.accepted.lock().unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.drop_connections();
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    mode: Arc<Mutex<Mode>>,
    mut cancel: watch::Receiver<u64>,
) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = forward(cr, sw, mode.clone(), true);
    let down = forward(sr, cw, mode, false);
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cancel.changed() => {}
    }
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<Mutex<Mode>>,
    upstream: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(n) if n > 0 => n,
            // A vanished peer does not say goodbye either: hold the other side open.
            _ if *mode.lock().unwrap() == Mode::Blackhole => std::future::pending().await,
            _ => return,
        };
        let now = *mode.lock().unwrap();
        match now {
            Mode::Forward => {}
            Mode::Blackhole => continue,
            Mode::Delay(d) => tokio::time::sleep(d).await,
            Mode::CutNext if upstream => {
                *mode.lock().unwrap() = Mode::Forward;
                let _ = to.write_all(&buf[..n.div_ceil(2)]).await;
                return;
            }
            Mode::CutNext => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
