//! The `palisade` binary's library: the axum server (Leptos SSR pages, server functions, the REST
//! API, the defender channel) and the command line. What the console does lives in
//! `palisade-console`; this crate is HTTP and argv around it.

// Leptos view types nest deeply; the Protect page's exceeds the default limit of 128.
#![recursion_limit = "256"]

pub mod cli;
pub mod config;
pub mod http;

pub use config::Config;
pub use http::serve;
