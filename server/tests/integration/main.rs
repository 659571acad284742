//! The server's integration tests, one binary (each file used to link the whole app on its own):
//! the REST API and pages, the command line, the defender channel, ECS registration and import
//! against moto, registrations, entrypoints read from a loopback registry, what viewers may not
//! see and what defenders' text may not do.

mod access;
mod api;
mod cli;
mod common;
mod coverage;
mod defender_channel;
mod defender_floods;
mod defender_image;
mod defender_text;
mod deploy;
mod ecs;
mod lifecycle;
mod network;
mod registrations;
mod registry_trust;
mod resolve;
mod runtime_defense;
mod sign_on;
mod tls;
mod viewer_secrets;
