//! `palisade-defender`: `run` (the sidecar), `exec -- ARGV...` (the entrypoint wrapper of each
//! protected container) and `health` (the sidecar's container health check).

mod buffer;
mod channel;
mod config;
mod exec;
mod facts;
mod flood;
mod guard;
mod judging;
mod kept;
mod local;
mod log;
mod metadata;
mod policy;
mod ports;
mod procs;
mod report;
mod run;
mod shared;
mod stream;
mod tls;
mod trace;
mod watch;

use std::ffi::OsString;

const USAGE: &str = "usage:
  palisade-defender run              the sidecar (PALISADE_CONSOLE_URL, PALISADE_TOKEN, PALISADE_MODE,
                                     PALISADE_VOLUME, ECS_CONTAINER_METADATA_URI_V4)
  palisade-defender exec -- ARGV...  run ARGV as the workload, reporting to the sidecar
  palisade-defender health           exit 0 when the sidecar is healthy
  palisade-defender version";

fn main() {
    let mut args = std::env::args_os().skip(1);
    let command = args.next();
    let code = match command.as_ref().and_then(|c| c.to_str()) {
        Some("run") => run::run(config::Config::from_env()),
        Some("exec") => {
            let mut argv: Vec<OsString> = args.collect();
            // Hidden, a test hook of debug builds only: kill every exec of this executable (a
            // policy's stand-in). A release build (the published image) has no such door: a
            // workload running the wrapper itself cannot swap its judge for this one.
            let mut test_kill = None;
            if cfg!(debug_assertions)
                && argv
                    .first()
                    .is_some_and(|first| first == "--test-kill-executable")
            {
                let path = argv.get(1).map(|path| path.to_string_lossy().into_owned());
                test_kill = Some(path.unwrap_or_default());
                argv.drain(..argv.len().min(2));
            }
            // `--` is optional: `exec -- a b` and `exec a b` are the same, but an ARGV that
            // itself starts with `--` needs the separator.
            if argv.first().is_some_and(|first| first == "--") {
                argv.remove(0);
            }
            exec::exec(argv, test_kill)
        }
        Some(trace::TRAMPOLINE) => trace::trampoline(args),
        Some("health") => local::health(&config::local_addr()),
        Some("version" | "--version" | "-V") => {
            println!("palisade-defender {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}
