//! The room a socket's unfinished messages may hold: a few free bytes per socket, then room taken
//! all or nothing from shared pools (the token's, the listener's) and held until the message is
//! done, with a deadline for a message to arrive whole.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes shared by many sockets' unfinished messages, with an upper bound; readers that would
/// pass it wait until bytes are given back.
pub struct BytePool {
    used: std::sync::atomic::AtomicUsize,
    limit: usize,
    waiting: Mutex<Vec<std::task::Waker>>,
}

impl BytePool {
    pub fn new(limit: usize) -> Arc<BytePool> {
        Arc::new(BytePool {
            used: std::sync::atomic::AtomicUsize::new(0),
            limit,
            waiting: Mutex::default(),
        })
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + bytes <= self.limit).then_some(used + bytes)
            })
            .is_ok()
    }

    /// Takes `bytes`, or has `waker` woken when bytes are given back. The attempt and the
    /// registration happen under the waiting list's lock, which `give_back` takes after it
    /// returned its bytes: a give-back between the two cannot be missed.
    fn take_or_wait(&self, bytes: usize, waker: &std::task::Waker) -> bool {
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.try_take(bytes) {
            return true;
        }
        if !waiting.iter().any(|waiter| waiter.will_wake(waker)) {
            waiting.push(waker.clone());
        }
        false
    }

    fn give_back(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        let waiting = std::mem::take(
            &mut *self
                .waiting
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        waiting.into_iter().for_each(std::task::Waker::wake);
    }

    /// Bytes taken now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// What one socket's unfinished message holds: the first `free` bytes cost nothing (heartbeats,
/// small batches); a message that passes them takes, at once, room for the largest message from
/// its token's pool and from the listener's pool, and gives it back once the session is done
/// with the message (stored, not merely received: batches waiting for the database count too).
/// All or nothing, so a socket that holds room can always finish its message (sockets that each
/// held part of what they need could all wait on each other forever), and sockets that send most
/// of a large frame and then stall hold at most those pools together, not 256 KiB each. A
/// message begun past `free` must also be finished within [`MID_MESSAGE_DEADLINE`].
pub struct MessageMeter {
    free: usize,
    /// Room a large message takes: the largest message, its frame's header and a read ahead.
    room: usize,
    state: Mutex<MeterState>,
    pools: [Arc<BytePool>; 2],
}

#[derive(Default)]
struct MeterState {
    /// Bytes read of the message under way (and any charged for a read in progress).
    unfinished: usize,
    /// Room taken from the pools (0, or `room`).
    taken: usize,
    /// When the message under way began (listener ms).
    started_ms: u64,
    /// The message arrived whole and the session is working on it (no deadline runs).
    received: bool,
}

/// A message past its free bytes must be complete within this.
pub const MID_MESSAGE_DEADLINE: Duration = Duration::from_secs(20);

impl MessageMeter {
    /// A meter for messages of at most `largest` bytes.
    pub fn new(
        free: usize,
        largest: usize,
        token: Arc<BytePool>,
        all: Arc<BytePool>,
    ) -> Arc<MessageMeter> {
        Arc::new(MessageMeter {
            free,
            room: (largest + 64 * 1024).saturating_sub(free),
            state: Mutex::default(),
            pools: [token, all],
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes room when the message under way needs it and has none, gives it back when the
    /// message fits its free bytes again. With a `waker`, false means it waits for room (woken
    /// when some is given back); without, false means there was none now.
    fn settle(&self, state: &mut MeterState, waker: Option<&std::task::Waker>) -> bool {
        let needs_room = state.unfinished > self.free;
        if needs_room && state.taken == 0 {
            let take = |pool: &BytePool| match waker {
                Some(waker) => pool.take_or_wait(self.room, waker),
                None => pool.try_take(self.room),
            };
            let [token, all] = &self.pools;
            if !take(token) {
                return false;
            }
            if !take(all) {
                token.give_back(self.room);
                return false;
            }
            state.taken = self.room;
        } else if !needs_room && state.taken > 0 {
            let taken = std::mem::take(&mut state.taken);
            self.pools.iter().for_each(|pool| pool.give_back(taken));
        }
        true
    }

    /// Whether the socket may read now: one past its free bytes without room waits for room
    /// (`waker` is woken when some is given back). What is read is charged after it is read
    /// (a read's size is the reader's buffer, up to a TLS record: charging it before would make
    /// every heartbeat on a TLS socket look like a large message).
    pub(super) fn may_read(&self, now_ms: u64, waker: &std::task::Waker) -> bool {
        let mut state = self.lock();
        if state.unfinished == 0 {
            state.started_ms = now_ms;
        }
        self.settle(&mut state, Some(waker))
    }

    /// `bytes` were read: room is taken now if the message needs it and it can be had; if it
    /// cannot, the next read waits for it (one read past the free bytes at most).
    pub(super) fn read(&self, bytes: usize) {
        let mut state = self.lock();
        state.unfinished += bytes;
        self.settle(&mut state, None);
    }

    /// The message under way arrived whole: its deadline stops (its room stays taken until
    /// [`MessageMeter::message_done`]).
    pub fn message_received(&self) {
        self.lock().received = true;
    }

    /// The session is done with the message it last received: its room goes back.
    pub fn message_done(&self) {
        let mut state = self.lock();
        state.unfinished = 0;
        state.received = false;
        self.settle(&mut state, None);
    }

    /// Whether a large message has been unfinished for longer than the deadline.
    pub(super) fn overdue(&self, now_ms: u64) -> bool {
        let deadline = u64::try_from(MID_MESSAGE_DEADLINE.as_millis()).unwrap_or(u64::MAX);
        let state = self.lock();
        !state.received
            && state.unfinished > self.free
            && now_ms.saturating_sub(state.started_ms) >= deadline
    }
}

impl Drop for MessageMeter {
    fn drop(&mut self) {
        let taken = self.lock().taken;
        self.pools.iter().for_each(|pool| pool.give_back(taken));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waker that counts its wakes.
    struct Counted(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counted {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn small_messages_take_no_room_and_a_large_one_takes_it_once() {
        let (token, all) = (BytePool::new(1 << 20), BytePool::new(1 << 20));
        let meter = MessageMeter::new(16 << 10, 256 << 10, token.clone(), all.clone());
        let counted = Arc::new(Counted(Default::default()));
        let waker = std::task::Waker::from(counted.clone());
        // Heartbeats: read in whatever sizes, never past the free bytes.
        for _ in 0..100 {
            assert!(meter.may_read(0, &waker));
            meter.read(60);
            meter.message_done();
        }
        assert_eq!(token.used(), 0);
        // A 200 KiB batch: room is taken as it passes the free bytes, once, and given back.
        for _ in 0..50 {
            assert!(meter.may_read(0, &waker));
            meter.read(4 << 10);
        }
        assert_eq!((token.used(), all.used()), (meter.room, meter.room));
        meter.message_done();
        assert_eq!((token.used(), all.used()), (0, 0));
    }

    #[test]
    fn past_its_free_bytes_a_socket_without_room_waits_and_is_woken_when_room_comes_back() {
        let (token, all) = (BytePool::new(400 << 10), BytePool::new(1 << 30));
        let first = MessageMeter::new(16 << 10, 256 << 10, token.clone(), all.clone());
        let second = MessageMeter::new(16 << 10, 256 << 10, token.clone(), all.clone());
        let counted = Arc::new(Counted(Default::default()));
        let waker = std::task::Waker::from(counted.clone());
        // The first takes the token's only room.
        first.read(20 << 10);
        assert!(first.may_read(0, &waker));
        // The second passes its free bytes (one read over) and then waits, holding nothing.
        assert!(second.may_read(0, &waker));
        second.read(20 << 10);
        assert!(!second.may_read(0, &waker));
        assert_eq!(
            all.used(),
            first.room,
            "the second holds no room while it waits"
        );
        // The first finishes: the waiting reader is woken and gets its room.
        first.message_done();
        assert!(counted.0.load(Ordering::Relaxed) >= 1);
        assert!(second.may_read(0, &waker));
        // A socket dropped with its room gives it back.
        drop(second);
        assert_eq!((token.used(), all.used()), (0, 0));
    }
}
