//! The defender's integration tests, one binary: the entrypoint wrapper (`exec`) as a process and
//! its tracer, the sidecar's hardening, the real defender against the real console on loopback,
//! and the defender judging, killing and reporting in a task of its own against a console
//! stand-in that sends policies (`defend`), and runtime defense end to end against the real
//! console (`end_to_end`).

mod console;
mod defend;
mod end_to_end;
mod exec;
mod fake_console;
mod judging;
mod sidecar;
mod task;
mod trace;
