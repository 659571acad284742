//! "Something about the defenders changed": a counter the writer raises after each commit (a
//! defender came, left, sent events or heartbeats) and the sweep after marking silent ones, which
//! open dashboards wait on instead of asking again every few seconds.

use std::sync::Arc;
use tokio::sync::watch;

/// Cheap to clone; every clone raises and watches the same counter.
#[derive(Clone, Debug)]
pub struct DefenderChanges(Arc<watch::Sender<u64>>);

impl Default for DefenderChanges {
    fn default() -> Self {
        DefenderChanges(Arc::new(watch::channel(0).0))
    }
}

impl DefenderChanges {
    /// Something changed (wakes every watcher once, however often it is called before they look).
    pub fn changed(&self) {
        self.0.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A watcher that sees the changes after this call.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
