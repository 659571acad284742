//! The console's request and answer types: plain serde data (strings, numbers, small enums) that
//! every front end exchanges, so each is defined once. Where the console's own value has exactly
//! this shape it is this type (`Role`, `DefenderStatus`, `RegistrationStatus`, `CreatedToken`,
//! `TokenView`, `ApiTokenView`, `AuditEntry`: the console re-exports them); the others the console
//! converts into in one place (`palisade_console::views`). The REST API answers with them, the
//! server functions send them to the pages (the browser bundle builds this crate for wasm, without
//! the console), and the CLI prints them. No tokio, no sqlx: what needs the database stays in the
//! console. With the `openapi` feature each also derives its OpenAPI schema, so the REST
//! document describes the very type the handler serializes.

pub mod defenders;
pub mod generations;
pub mod people;
pub mod protect;
pub mod runtime;
pub mod settings;
