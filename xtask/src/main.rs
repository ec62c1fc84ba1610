//! Project automation.
//!
//! - `cargo xtask codegen [--check]`: regenerates everything under
//!   `generated/` from `protocols/` ([`codegen`]).
//! - `cargo xtask demo guardian-ceremony`: runs a GuardianCeremony between
//!   four processes over TLS on 127.0.0.1 ([`demo`]).
//!
//! The audit document needs the evidence of the entry points' tests
//! ([`evidence`]): after the other files are written, those tests run with
//! evidence on (or the evidence of a run of the same sources is reused), and
//! the audit is computed from it.
//!
//! Exit codes: 0 success, 1 stale files (codegen --check) or a failed demo,
//! 2 errors (in the protocols, the manifest, the entry points' tests, usage
//! or I/O).

mod codegen;
mod demo;
mod evidence;

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask codegen [--check]
       cargo xtask demo guardian-ceremony

  codegen                 regenerate generated/ from protocols/
  codegen --check         write nothing; exit 1 if generated/ is not up to date
  demo guardian-ceremony  an Initiator and 3 Guardians as processes over TLS on
                          127.0.0.1; exit 0 only if all four succeed";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let check = match args.as_slice() {
        ["codegen"] => false,
        ["codegen", "--check"] => true,
        ["demo", "guardian-ceremony"] => return demo::guardian_ceremony(&root),
        ["--help"] | ["-h"] | ["help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match codegen::codegen(&root, check) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
