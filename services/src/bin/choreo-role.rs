//! `choreo-role`: runs the one peer a node plays in a protocol's sessions,
//! as its own process, over the TLS transport.
//!
//! ```text
//! choreo-role --config FILE --protocol guardian-ceremony --demo-seed SEED
//!             [--ceremonies N] [--threshold T] [--wait-ms MS]
//! ```
//!
//! The node configuration `FILE` says where the node listens, its
//! certificate and key, its peers, and in its `[roster.GuardianCeremony]`
//! section which peer of the protocol runs on which node: the peer bound to
//! this node's name is the role this process plays (`Initiator`, or one
//! `Guardian[k]`). The Initiator runs `N` ceremonies one after the other
//! (each once it has a link to every guardian's node); a guardian takes part
//! in the next `N` ceremonies opened with it. Every process prints what it
//! did, one line at a time (see `choreo_services::process`).
//!
//! Exit code: 0 when every ceremony ended with an outcome (committed or
//! aborted), 1 when one failed (a peer gone, cancelled, timed out, ...), 2 on
//! a usage, configuration or start-up error.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use choreo_runtime::NodeConfig;
use choreo_services::process::guardian_ceremony::{self, Options};
use choreo_services::process::{Host, Out};

const USAGE: &str = "usage: choreo-role --config FILE --protocol guardian-ceremony --demo-seed SEED [--ceremonies N] [--threshold T] [--wait-ms MS]";

/// The command line, parsed.
struct Args {
    config: String,
    protocol: String,
    options: Options,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let (mut config, mut protocol, mut seed) = (None, None, None);
    let mut options = Options {
        seed: String::new(),
        ceremonies: 1,
        threshold: None,
        wait: Duration::from_secs(60),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} {v}: not a number"))
        };
        match flag.as_str() {
            "--config" => config = Some(value()?),
            "--protocol" => protocol = Some(value()?),
            "--demo-seed" => seed = Some(value()?),
            "--ceremonies" => {
                options.ceremonies =
                    u32::try_from(number(value()?)?).map_err(|_| format!("{flag}: too many"))?
            }
            "--threshold" => {
                options.threshold = Some(
                    u16::try_from(number(value()?)?).map_err(|_| format!("{flag}: too large"))?,
                )
            }
            "--wait-ms" => options.wait = Duration::from_millis(number(value()?)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    options.seed = seed.ok_or("--demo-seed is required")?;
    Ok(Args {
        config: config.ok_or("--config is required")?,
        protocol: protocol.ok_or("--protocol is required")?,
        options,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(args) => args,
        Err(why) => {
            eprintln!("error: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let protocol = match args.protocol.as_str() {
        "guardian-ceremony" => &choreo_guardian_ceremony::PROTOCOL,
        other => {
            eprintln!("error: unknown protocol {other:?} (known: guardian-ceremony)");
            return ExitCode::from(2);
        }
    };
    let config = match NodeConfig::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread: nothing of the transport runs before the role's listener
    // exists (see `Host::start`).
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
        let host = match Host::start(config, &args.config, protocol) {
            Ok(host) => host,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let out: Out = Arc::new(|line| println!("{line}"));
        out(host.ready_line());
        host.report_links(out.clone());
        let ran = guardian_ceremony::run(&host, &args.options, &out).await;
        if !host.close().await {
            out(format!("{}: links did not close in time", host.me));
        }
        match ran {
            Ok(tally) => {
                out(format!(
                    "{}: done: {} of {} ceremonies ended with an outcome",
                    host.me,
                    tally.outcomes,
                    tally.outcomes + tally.failures
                ));
                if tally.all_ended_well() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", host.me);
                ExitCode::from(2)
            }
        }
    })
}
