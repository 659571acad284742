//! The Palisade console server and command line: the axum app (Leptos SSR pages, server
//! functions, the REST API), its SQLite database, and the `palisade` CLI.

// Leptos view types nest deeply; the Protect page's exceeds the default limit of 128.
#![recursion_limit = "256"]

pub mod cli;
pub mod config;
pub mod db;
pub use palisade_app::ecs;
pub mod http;

pub use config::Config;
pub use http::serve;
