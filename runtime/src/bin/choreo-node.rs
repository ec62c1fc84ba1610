//! `choreo-node --config FILE`: runs one node of the TLS transport from its
//! configuration file and echoes every frame it receives back to its sender.
//!
//! It prints `listening NAME ADDRESS` once it listens, then one line per link
//! event (`up NAME VERSION`, `down NAME REASON`, `refused ADDRESS ERROR`), and
//! runs until killed. Tests use it (through
//! `choreo_runtime::transport::tls::testing::NodeProcess`) as a peer in another
//! process, e.g. to SIGKILL it. Exit code 2 on a usage or configuration error.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use choreo_runtime::transport::contract::{Inbound, NodeId, SendPermit, Transport};
use choreo_runtime::transport::tls::testing::ready_line;
use choreo_runtime::transport::tls::{LinkEvent, NodeConfig, TlsTransport, WeakTlsTransport};

/// Sends every frame back to the node it came from.
#[derive(Default)]
struct Echo {
    transport: OnceLock<WeakTlsTransport>,
}

impl Inbound for Echo {
    async fn deliver(&self, from: &NodeId, frame: Bytes) {
        if let Some(transport) = self.transport.get().and_then(WeakTlsTransport::upgrade) {
            if let Ok(permit) = transport.reserve(from).await {
                permit.send(frame);
            }
        }
    }

    fn link_down(&self, _node: &NodeId, _reason: &str) {}
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = match args.as_slice() {
        [flag, path] if flag == "--config" => path.clone(),
        _ => {
            eprintln!("usage: choreo-node --config FILE");
            return ExitCode::from(2);
        }
    };
    let config = match NodeConfig::load(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        let echo = Arc::new(Echo::default());
        let name = config.name.clone();
        let transport = match TlsTransport::start(config, echo.clone()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let mut events = transport.events();
        let _ = echo.transport.set(transport.downgrade());
        println!("{}", ready_line(&name, transport.local_addr()));
        loop {
            match events.recv().await {
                Ok(LinkEvent::Up {
                    node, negotiated, ..
                }) => println!("up {node} {}", negotiated.version),
                Ok(LinkEvent::Down { node, reason, .. }) => println!("down {node} {reason}"),
                Ok(LinkEvent::Refused { remote, error }) => println!("refused {remote} {error}"),
                Ok(LinkEvent::DialFailed { .. }) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return ExitCode::SUCCESS,
            }
        }
    })
}
