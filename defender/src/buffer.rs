//! The bounded event buffer: events wait here until the console acknowledges them, so a console
//! restart loses nothing; when it stays away too long the oldest go first and are counted.

use palisade_protocol::{Event, EventKind};
use std::collections::VecDeque;

pub struct EventBuffer {
    events: VecDeque<Event>,
    capacity: usize,
    next_seq: u64,
    /// Events sent on the current connection (not acknowledged yet) end at this sequence number.
    sent_up_to: u64,
    pub dropped: u64,
}

impl EventBuffer {
    pub fn new(capacity: usize) -> Self {
        EventBuffer {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 1,
            sent_up_to: 0,
            dropped: 0,
        }
    }

    pub fn push(&mut self, at_ms: i64, kind: EventKind) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(Event {
            seq: self.next_seq,
            at_ms,
            kind,
        });
        self.next_seq += 1;
    }

    /// The console has everything up to `seq`.
    pub fn ack(&mut self, seq: u64) {
        while self.events.front().is_some_and(|event| event.seq <= seq) {
            self.events.pop_front();
        }
        self.sent_up_to = self.sent_up_to.max(seq);
    }

    /// A new connection: what the console does not have is sent again.
    pub fn rewind(&mut self, console_has: u64) {
        self.sent_up_to = 0;
        self.ack(console_has);
    }

    /// The next events to send, at most `max`, marked as sent.
    pub fn next_batch(&mut self, max: usize) -> Vec<Event> {
        let batch: Vec<Event> = self
            .events
            .iter()
            .filter(|event| event.seq > self.sent_up_to)
            .take(max)
            .cloned()
            .collect();
        if let Some(last) = batch.last() {
            self.sent_up_to = last.seq;
        }
        batch
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(pid: u32) -> EventKind {
        EventKind::ProcessExited {
            pid,
            container: None,
        }
    }

    #[test]
    fn unacknowledged_events_are_sent_again_after_a_reconnect() {
        let mut buffer = EventBuffer::new(10);
        for pid in 1..=5 {
            buffer.push(0, exited(pid));
        }
        assert_eq!(buffer.next_batch(3).len(), 3);
        assert_eq!(buffer.next_batch(3).len(), 2);
        assert!(buffer.next_batch(3).is_empty());
        buffer.ack(2);
        assert_eq!(buffer.len(), 3);
        // The connection dropped; the new console says it stored up to 3.
        buffer.rewind(3);
        let again: Vec<u64> = buffer.next_batch(10).iter().map(|e| e.seq).collect();
        assert_eq!(again, vec![4, 5]);
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_counts_them() {
        let mut buffer = EventBuffer::new(3);
        for pid in 1..=5 {
            buffer.push(0, exited(pid));
        }
        assert_eq!(buffer.dropped, 2);
        let seqs: Vec<u64> = buffer.next_batch(10).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
    }
}
