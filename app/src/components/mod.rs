//! Widgets shared by the pages, the browser-side timer they tick with, and the console's pushed
//! "the defenders changed" they refresh on.

pub mod chart;
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

/// How often the pages ask again even when nothing was pushed (a proxy that holds server-sent
/// events back, a stream that ended): what is shown is never older than this.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const ASK_ANYWAY: Duration = Duration::from_secs(30);

/// A counter raised whenever the console says the defenders changed. One stream per tab
/// (`GET /api/v1/defenders/changes`, server-sent events), opened by the first component that
/// asks, shared through the context [`provide_defender_changes`] put there.
#[derive(Clone, Copy)]
pub struct DefenderChanges {
    count: RwSignal<u32>,
    listening: RwSignal<bool>,
}

/// Called once by the app, so every page shares one stream.
pub fn provide_defender_changes() {
    provide_context(DefenderChanges {
        count: RwSignal::new(0),
        listening: RwSignal::new(false),
    });
}

/// The counter to key a resource on: it moves when the console pushes a change (at most every
/// 2 s, and once when the stream opens) and every [`ASK_ANYWAY`] (both only in the browser).
pub fn defender_changes() -> RwSignal<u32> {
    let changes = use_context::<DefenderChanges>().unwrap_or(DefenderChanges {
        count: RwSignal::new(0),
        listening: RwSignal::new(false),
    });
    let count = changes.count;
    Effect::new(move |_| {
        if !changes.listening.get_untracked() {
            changes.listening.set(true);
            listen(count);
        }
    });
    count
}

/// Opens the stream (in the browser): each message raises `count`. The browser reconnects it
/// when it drops, and the console's first message after that makes the pages ask again. A hidden
/// tab closes its stream and opens a new one when shown again: over HTTP/1.1 a browser holds at
/// most six connections to a host, and six background tabs must not starve the seventh.
#[cfg(feature = "hydrate")]
fn listen(count: RwSignal<u32>) {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    let bump = move || count.update(|n| *n = n.wrapping_add(1));
    // One message handler for every stream this tab opens; it lives as long as the tab.
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| bump());
    let handler: web_sys::js_sys::Function = on_message
        .as_ref()
        .unchecked_ref::<web_sys::js_sys::Function>()
        .clone();
    on_message.forget();
    let open = move || {
        web_sys::EventSource::new("/api/v1/defenders/changes")
            .ok()
            .inspect(|source| source.set_onmessage(Some(&handler)))
    };
    let current = Rc::new(RefCell::new(if document.hidden() { None } else { open() }));
    let on_visibility = {
        let document = document.clone();
        Closure::<dyn FnMut()>::new(move || {
            let mut current = current.borrow_mut();
            if document.hidden() {
                if let Some(source) = current.take() {
                    source.close();
                }
            } else if current.is_none() {
                // Opening sends a first message: the pages ask again for what they missed.
                *current = open();
            }
        })
    };
    let _ = document.add_event_listener_with_callback(
        "visibilitychange",
        on_visibility.as_ref().unchecked_ref(),
    );
    on_visibility.forget();
    set_interval(
        move || {
            if !document.hidden() {
                bump();
            }
        },
        ASK_ANYWAY,
    );
}

#[cfg(not(feature = "hydrate"))]
fn listen(_count: RwSignal<u32>) {}
