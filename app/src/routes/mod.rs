//! The console's pages.

pub mod defenders;
pub mod protect;
pub mod revisions;
pub mod settings;
