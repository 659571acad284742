//! Widgets shared by the pages, and the browser-side timer they tick with.

pub mod diff;
pub mod nav;

use leptos::prelude::*;
use std::time::Duration;

/// Calls `tick` every `period` while the component that asked is mounted. Only in the browser
/// (effects never run on the server), and the interval is cleared when the component goes away,
/// so visiting a page ten times does not leave ten timers running.
pub fn every(period: Duration, tick: impl Fn() + Clone + 'static) {
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(tick.clone(), period) {
            on_cleanup(move || handle.clear());
        }
    });
}
