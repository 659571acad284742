//! The task-definition crate's integration tests, one binary: the real corpus, the schema
//! generated from the ECS model, and property tests of protect / unprotect.

mod corpus;
mod fuzz_regressions;
mod generated_schema;
mod golden;
mod properties;
mod templates;
