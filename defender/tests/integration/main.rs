//! The defender's integration tests, one binary: the entrypoint wrapper (`exec`) as a process and
//! its tracer, the sidecar's hardening, and the real defender against the real console on
//! loopback.

mod console;
mod exec;
mod sidecar;
mod trace;
