//! Runtime defense, the part both ends share: the [`Policy`] the console sends each defender of a
//! family, the learned [`Model`], the rules, and the judge. Pure and wasm-safe (no files, threads
//! or clock: callers pass times in), so the defender, the console and the UI judge alike.
//!
//! The defender calls [`judge`] on every exec and [`judge_port`] on every new listening socket,
//! reports the alerts and carries out the [`Action`]; it keeps judging while the console is away.
//! The console learns a [`Model`] per family from all its tasks' events
//! ([`Model::learn_exec`], [`Model::learn_port`], [`Model::merge`]) and sends it in the policy
//! once learned; [`Policy::check`] keeps a policy within the bounds below.
//!
//! # Versioning
//! A policy carries `version` ([`POLICY_VERSION`]). Fields are only added, each with a default,
//! and unknown fields are ignored; a mode a reader does not know reads as `alert` and a rule id
//! as [`RuleId::Unknown`], so older and newer ends read each other's policies. A change that
//! cannot be made that way bumps the version; [`Policy::check`] refuses a version it cannot read.
//!
//! # Rules
//! | id | severity | fires when |
//! |---|---|---|
//! | `crypto-miner` | critical | a tool named like a miner ([`MINER_NAMES`]: `xmrig`, `t-rex`...; by base name, any case) runs, or any argument holds a pool URL (`stratum+tcp://`, `stratum+ssl://`, `stratum2+tcp://`...) |
//! | `not-from-image` | high | the executable lies in a temporary folder ([`TEMPORARY_FOLDERS`]), runs from memory (`/memfd:`), was deleted while running, or its mtime is after its container started |
//! | `package-manager` | medium | apt, apt-get, dpkg, apk, yum, dnf, microdnf, rpm, zypper, pacman, pip, `python -m pip`, npm, yarn, pnpm, gem, bundle, cargo, go, conda, composer... run with arguments that install, remove or update (`pip install`, not `pip freeze`; `dpkg -i`, not `dpkg -l`) |
//! | `network-tool` | medium | nc, ncat, netcat, socat, nmap, masscan, zmap, tcpdump, tshark, telnet ([`NETWORK_TOOLS`]) run, except `nc -z` towards loopback only (a health check) |
//! | `new-listening-port` | medium | a container with an active model listens on a port neither its model nor `allowed_ports` holds |
//! | `deny-list` | high | the executable matches a deny entry for its container or all; cannot be disabled |
//! | `not-in-model` | medium | a container with an active model runs an executable its model does not hold |
//!
//! A tool is known by the executable's base name, by `argv[0]`'s (busybox applets), and by the
//! script or module an interpreter runs (`python3 /usr/local/bin/pip install`, `python3 -m pip`,
//! `node .../npm-cli.js ci`); `sh -c "..."` runs no script, so only what it execs is judged.
//! A model is active for a container when the policy's model has an entry for it; while the
//! model is `None`, or for a process whose container is unknown, neither model rule fires. An
//! empty executable (unreadable) is judged by its command line alone.
//!
//! Allow and deny: a deny entry always alerts, and a denied executable's allow entries are
//! ignored. An allow entry silences every rule about the executable (`not-in-model`,
//! `not-from-image`, `package-manager`, `network-tool`) except `crypto-miner`: a miner is never
//! expected. Disabled rules never fire.
//!
//! # Actions
//! `off`: no alert, allow. `alert`: alerts, allow. `prevent`: kill when an alert is one of these:
//!
//! | alert | kills a process | kills the workload root |
//! |---|---|---|
//! | `deny-list` | yes | yes |
//! | `crypto-miner` (critical) | yes | yes |
//! | `not-from-image` (high) | yes | yes |
//! | `not-in-model` | yes | no: a wrong model must not take a service down |
//! | `package-manager`, `network-tool` (medium) | no | no |
//! | `new-listening-port` | never: a port names no process | never |
//!
//! The workload root is the process the entrypoint wrapper started (the container's main
//! process); its children are judged like any process.

mod check;
mod command;
mod detect;
mod facts;
mod judge;
mod model;
mod packages;
mod pattern;
mod policy;
mod rules;

pub use check::PolicyProblem;
pub use detect::{MINER_NAMES, NETWORK_TOOLS, TEMPORARY_FOLDERS};
pub use facts::{ExecFacts, ListeningPort, Protocol};
pub use judge::{judge, judge_port, Action, Alert, Verdict};
pub use model::{is_container_name, ContainerModel, ExecRecord, Learned, Model, PortRecord};
pub use pattern::ExecPattern;
pub use policy::{ListEntry, Mode, Policy, PortEntry};
pub use rules::{rules, RuleId, RuleInfo, Severity};

/// The policy format this build writes and the newest it reads.
pub const POLICY_VERSION: u32 = 1;

/// A policy's largest size as compact JSON: the channel's largest message (256 KiB) less room
/// for the message around it.
pub const MAX_POLICY_BYTES: usize = 240 * 1024;

/// At most this many entries in the allow list, and as many in the deny list.
pub const MAX_LIST_ENTRIES: usize = 256;

/// Longest allow or deny pattern, in characters (globs are matched on every exec).
pub const MAX_PATTERN_CHARS: usize = 256;

/// At most this many allowed ports.
pub const MAX_ALLOWED_PORTS: usize = 256;

/// At most this many disabled rule ids (each rule once, and room for newer ones).
pub const MAX_DISABLED_RULES: usize = 16;

/// Longest container name (ECS's bound).
pub const MAX_CONTAINER_NAME_CHARS: usize = 255;

/// At most this many containers in a model (a family's revisions may rename them).
pub const MAX_MODEL_CONTAINERS: usize = 64;

/// At most this many executables per container in a model.
pub const MAX_MODEL_EXECUTABLES: usize = 1000;

/// At most this many listening ports per container in a model.
pub const MAX_MODEL_PORTS: usize = 256;

/// Longest executable path in a model, in characters (the channel cuts longer ones).
pub const MAX_PATH_CHARS: usize = 1024;

/// Parent executables kept per executable of a model.
pub const MAX_PARENTS_PER_EXECUTABLE: usize = 8;

/// Users kept per executable of a model.
pub const MAX_UIDS_PER_EXECUTABLE: usize = 8;

/// [`Policy::check`] reports at most this many problems.
pub const MAX_PROBLEMS: usize = 100;
