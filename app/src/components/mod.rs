//! Widgets shared by the pages.

pub mod diff;
pub mod nav;
