//! The open defender sessions, in memory: each session's place among its token's sessions, and
//! what closes one, a token's, or all of them from outside.

use super::super::listen::BytePool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The open defender sessions, in memory: by defender (a defender that connects again supersedes
/// its older socket) and by token (how many a token holds, and what closes them all when it is
/// revoked or the console stops).
#[derive(Clone, Default)]
pub struct Live(Arc<Mutex<LiveSessions>>);

#[derive(Default)]
pub(super) struct LiveSessions {
    /// Defender id -> its current connection and what closes it.
    defenders: HashMap<i64, (String, Arc<Closer>)>,
    /// Token id -> session number -> closer: every open session, also those before `hello`.
    tokens: HashMap<i64, HashMap<u64, Arc<Closer>>>,
    /// Token id -> the bytes its sockets' unfinished messages may hold together.
    pools: HashMap<i64, Arc<BytePool>>,
}

/// Bytes of an unfinished message that cost nothing (a heartbeat, a small batch).
pub(super) const FREE_MESSAGE_BYTES: usize = 16 * 1024;
/// Bytes the unfinished messages of one token's sockets may hold together beyond that.
const TOKEN_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
/// And of every socket together.
pub const ALL_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
/// A message to a defender not sent within this ends its session (a peer that stopped reading).
pub(super) const SEND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Ends one session from outside, saying why (a WebSocket close code and a reason).
#[derive(Default)]
pub struct Closer {
    pub(super) notify: Notify,
    why: std::sync::OnceLock<(u16, String)>,
}

/// Close codes: the console goes away (1001), or the session may not go on (1008).
pub(super) const GOING_AWAY: u16 = 1001;
pub(super) const POLICY: u16 = 1008;
/// The console could not store what was sent: the defender keeps it and sends it again.
pub(super) const TRY_AGAIN: u16 = 1013;

impl Closer {
    pub(super) fn close(&self, code: u16, reason: &str) {
        let _ = self.why.set((code, reason.to_owned()));
        // A permit is kept when the session is not waiting yet: the close is never lost.
        self.notify.notify_one();
    }

    pub(super) fn why(&self) -> (u16, String) {
        self.why
            .get()
            .cloned()
            .unwrap_or_else(|| (POLICY, "closed by the console".into()))
    }
}

/// A session's place among its token's sessions, given back when the session ends.
pub(super) struct Slot {
    pub(super) live: Live,
    pub(super) token_id: i64,
    pub(super) number: u64,
    pub(super) closer: Arc<Closer>,
    /// What its token's sockets' unfinished messages may hold together.
    pub(super) pool: Arc<BytePool>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut live = self.live.lock();
        if let Some(sessions) = live.tokens.get_mut(&self.token_id) {
            sessions.remove(&self.number);
            if sessions.is_empty() {
                live.tokens.remove(&self.token_id);
                live.pools.remove(&self.token_id);
            }
        }
    }
}

static SESSIONS: AtomicU64 = AtomicU64::new(1);

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, LiveSessions> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for one more session of `token_id`, unless it already holds `most`.
    pub(super) fn reserve(&self, token_id: i64, most: usize) -> Option<Slot> {
        let mut live = self.lock();
        let sessions = live.tokens.entry(token_id).or_default();
        if sessions.len() >= most {
            return None;
        }
        let number = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let closer = Arc::new(Closer::default());
        sessions.insert(number, closer.clone());
        let pool = live
            .pools
            .entry(token_id)
            .or_insert_with(|| BytePool::new(TOKEN_MESSAGE_BYTES))
            .clone();
        Some(Slot {
            live: self.clone(),
            token_id,
            number,
            closer,
            pool,
        })
    }

    /// Defender `id` is now on `connection`; its older socket, if any, is closed.
    pub(super) fn take_over(&self, id: i64, connection: &str, closer: &Arc<Closer>) {
        let previous = self
            .lock()
            .defenders
            .insert(id, (connection.to_owned(), closer.clone()));
        if let Some((_, older)) = previous {
            older.close(POLICY, "superseded by a newer connection");
        }
    }

    pub(super) fn leave(&self, id: i64, connection: &str) {
        let mut live = self.lock();
        if live
            .defenders
            .get(&id)
            .is_some_and(|(current, _)| current == connection)
        {
            live.defenders.remove(&id);
        }
    }

    /// Closes every session of `token_id` (revoked).
    pub fn close_token(&self, token_id: i64, reason: &str) {
        if let Some(sessions) = self.lock().tokens.get(&token_id) {
            for closer in sessions.values() {
                closer.close(POLICY, reason);
            }
        }
    }

    /// Closes every session: the console is stopping (defenders reconnect to the next one).
    pub fn close_all(&self, reason: &str) {
        for sessions in self.lock().tokens.values() {
            for closer in sessions.values() {
                closer.close(GOING_AWAY, reason);
            }
        }
    }

    /// Waits until every session has ended (each sent its close frame), at most `within`.
    pub async fn drained(&self, within: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.sessions() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// How many defenders are connected.
    pub fn count(&self) -> usize {
        self.lock().defenders.len()
    }

    /// How many sessions are open (connected or still saying hello).
    pub fn sessions(&self) -> usize {
        self.lock().tokens.values().map(HashMap::len).sum()
    }

    /// The tokens with open sessions.
    pub(super) fn token_ids(&self) -> Vec<i64> {
        self.lock().tokens.keys().copied().collect()
    }
}
