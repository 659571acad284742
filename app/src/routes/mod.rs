//! The console's pages.

pub mod protect;
pub mod revisions;
pub mod settings;
