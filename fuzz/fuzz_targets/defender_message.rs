//! What the console does with a defender's message before it touches the database: parse it,
//! check a hello's size, clamp every event to the protocol's bounds. Never a panic; a clamped
//! event always fits its bound.

#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_protocol::{DefenderMessage, MAX_EVENT_BYTES};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match serde_json::from_str::<DefenderMessage>(text) {
        Ok(DefenderMessage::Hello(hello)) => {
            let _ = hello.oversized();
        }
        Ok(DefenderMessage::Events { mut events }) => {
            for event in &mut events {
                event.clamp();
                let weight = serde_json::to_vec(event).expect("an event serializes").len();
                assert!(weight <= MAX_EVENT_BYTES, "a clamped event weighs {weight} bytes");
            }
        }
        Ok(_) | Err(_) => {}
    }
});
