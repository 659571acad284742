//! The policy crate's integration tests, one binary: the scenarios judged end to end
//! (a model learned from a task's processes, then the processes an attacker would start), the
//! bounds at their limits, and the JSON forms the docs show.

mod bounds;
mod scenarios;
mod serialization;
