//! The defender's integration tests, one binary: the entrypoint wrapper (`exec`) as a process, and
//! the real defender against the real console on loopback.

mod console;
mod exec;
mod trace;
