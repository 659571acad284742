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
        let mut event = Event {
            seq: self.next_seq,
            at_ms,
            kind,
        };
        // Bounded here, so the buffer's memory is bounded and every event fits a message.
        event.clamp();
        self.events.push_back(event);
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

    /// The next events to send, at most `max` of them and at most `max_bytes` of JSON together
    /// (a batch the console would refuse as too large would be sent again forever), marked as
    /// sent. The first event always goes: a clamped event is far under any message limit.
    pub fn next_batch(&mut self, max: usize, max_bytes: usize) -> Vec<Event> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for event in self
            .events
            .iter()
            .filter(|event| event.seq > self.sent_up_to)
            .take(max)
        {
            // Its JSON and the comma between events.
            let size = serde_json::to_vec(event).map_or(usize::MAX, |json| json.len()) + 1;
            if !batch.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            batch.push(event.clone());
        }
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
    use palisade_protocol::DefenderMessage;

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
        assert_eq!(buffer.next_batch(3, usize::MAX).len(), 3);
        assert_eq!(buffer.next_batch(3, usize::MAX).len(), 2);
        assert!(buffer.next_batch(3, usize::MAX).is_empty());
        buffer.ack(2);
        assert_eq!(buffer.len(), 3);
        // The connection dropped; the new console says it stored up to 3.
        buffer.rewind(3);
        let again: Vec<u64> = buffer
            .next_batch(10, usize::MAX)
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(again, vec![4, 5]);
    }

    #[test]
    fn batches_stay_under_the_message_limit_however_heavy_the_events() {
        use palisade_protocol::{MAX_EVENTS_PER_MESSAGE, MAX_MESSAGE_BYTES};
        let mut buffer = EventBuffer::new(1000);
        for pid in 0..200 {
            buffer.push(
                0,
                EventKind::WorkloadStarted {
                    container: None,
                    pid,
                    argv: vec!["x".repeat(3000)],
                    tracing: None,
                },
            );
        }
        let budget = MAX_MESSAGE_BYTES - 1024;
        let mut sent = 0;
        loop {
            let batch = buffer.next_batch(MAX_EVENTS_PER_MESSAGE, budget);
            if batch.is_empty() {
                break;
            }
            let message = DefenderMessage::Events { events: batch };
            let bytes = serde_json::to_vec(&message).unwrap().len();
            assert!(bytes <= MAX_MESSAGE_BYTES, "{bytes} bytes");
            let DefenderMessage::Events { events } = message else {
                unreachable!()
            };
            sent += events.len();
        }
        assert_eq!(sent, 200, "everything goes, in pieces");
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_counts_them() {
        let mut buffer = EventBuffer::new(3);
        for pid in 1..=5 {
            buffer.push(0, exited(pid));
        }
        assert_eq!(buffer.dropped, 2);
        let seqs: Vec<u64> = buffer
            .next_batch(10, usize::MAX)
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, vec![3, 4, 5]);
    }
}
