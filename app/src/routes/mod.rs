//! The console's pages.

pub mod audit;
pub mod defenders;
pub mod incidents;
pub mod models;
pub mod protect;
pub mod revisions;
pub mod settings;
pub mod sign_in;
