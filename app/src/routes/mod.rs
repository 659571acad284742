//! The console's pages.

pub mod protect;
