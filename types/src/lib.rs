//! The console's request and answer types: plain serde data (strings, numbers, small enums) that
//! every front end exchanges, so each is defined once. The console produces them
//! (`palisade_console::views`), the REST API answers with them, the server functions send them to
//! the pages (the browser bundle builds this crate for wasm, without the console), and the CLI
//! prints them. With the `openapi` feature each also derives its OpenAPI schema, so the REST
//! document describes the very type the handler serializes.

pub mod defenders;
pub mod generations;
pub mod people;
pub mod settings;
