//! The console's own background work, started once by whoever serves it
//! ([`Console::start_jobs`]): the defenders' writer, the sweep of silent defenders, the minute
//! samples behind the charts, forgetting old generations, writing down when credentials
//! were last used, and runtime defense's upkeep: models put in force when their learning window
//! ends (looked for every 5 s), learning saved every minute, defenders that left without a word
//! looked at after three heartbeats, old incidents forgotten hourly. [`Jobs::stop`] ends them and
//! writes what they still hold.

use crate::clock::{millis, now_ms};
use crate::defenders::recorder::Recorder;
use crate::defenders::DefenderSettings;
use crate::Console;
use std::time::Duration;
use tokio::task::JoinHandle;

/// What the jobs need to know from the deployment.
#[derive(Clone, Debug)]
pub struct JobSettings {
    pub defenders: DefenderSettings,
    /// How long generations are kept.
    pub generation_retention: Duration,
}

/// The running jobs.
pub struct Jobs {
    console: Console,
    recorder: Recorder,
    tasks: Vec<JoinHandle<()>>,
}

impl Console {
    /// Starts the console's background work; keep the answer and [`Jobs::stop`] it at the end.
    pub fn start_jobs(&self, settings: JobSettings) -> Jobs {
        let recorder = self
            .defenders()
            .start_recorder(settings.defenders.storage_bounds());
        let tasks = vec![
            tokio::spawn(sweep_defenders_forever(
                self.clone(),
                settings.defenders.clone(),
            )),
            tokio::spawn(forget_old_generations_forever(
                self.clone(),
                settings.generation_retention,
            )),
            tokio::spawn(crate::defenders::history::sample_forever(self.db.clone())),
            tokio::spawn(crate::auth::last_use::flush_forever(
                self.db.clone(),
                self.last_use().clone(),
            )),
            tokio::spawn(activate_models_forever(self.clone())),
            tokio::spawn(save_learning_forever(self.clone())),
            tokio::spawn(check_silent_forever(
                self.clone(),
                settings.defenders.heartbeat,
            )),
            tokio::spawn(forget_old_incidents_forever(self.clone())),
        ];
        Jobs {
            console: self.clone(),
            recorder,
            tasks,
        }
    }
}

impl Jobs {
    /// The one writer of what defenders send.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Stops the jobs, after the last heartbeats and disconnections reach the database, and
    /// writes down when credentials were last used.
    pub async fn stop(self) {
        self.recorder.flush().await;
        for task in &self.tasks {
            task.abort();
        }
        if let Err(error) = self.console.policies().save_learning().await {
            error.log("saving what the models learned");
        }
        if let Err(error) = self.console.last_use().flush(&self.console.db).await {
            error.log("noting when credentials were last used");
        }
    }
}

/// Marks silent defenders disconnected and removes long-disconnected ones, every heartbeat.
async fn sweep_defenders_forever(console: Console, settings: DefenderSettings) {
    let mut ticker = tokio::time::interval(settings.heartbeat);
    loop {
        ticker.tick().await;
        let silent = millis(settings.heartbeat * 3);
        let retention = millis(settings.retention);
        // Tried again at the next tick.
        if let Err(error) = console.defenders().sweep(silent, retention).await {
            error.log("sweeping defenders");
        }
    }
}

/// Forgets generations older than `retention`, at start and then hourly.
async fn forget_old_generations_forever(console: Console, retention: Duration) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        ticker.tick().await;
        let before = now_ms() - millis(retention);
        match console.generations().forget_before(before).await {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(forgotten, "old generations forgotten"),
            // Tried again in an hour.
            Err(error) => error.log("forgetting old generations"),
        }
    }
}

/// How often models whose learning window ended are looked for.
pub const ACTIVATION_CHECK: Duration = Duration::from_secs(5);
/// How often what learning models learned is saved: what a restart loses at most.
pub const LEARNING_SAVE: Duration = Duration::from_secs(60);

/// Puts in force the models whose learning window ended.
async fn activate_models_forever(console: Console) {
    let mut ticker = tokio::time::interval(ACTIVATION_CHECK);
    loop {
        ticker.tick().await;
        // Tried again at the next tick.
        if let Err(error) = console.policies().activate_due().await {
            error.log("activating models");
        }
    }
}

/// Saves what the learning models learned, every minute.
async fn save_learning_forever(console: Console) {
    let mut ticker = tokio::time::interval(LEARNING_SAVE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = console.policies().save_learning().await {
            error.log("saving what the models learned");
        }
    }
}

/// Looks at defenders that left without a word once three heartbeats have passed.
async fn check_silent_forever(console: Console, heartbeat: Duration) {
    let grace = millis(heartbeat * 3);
    let mut ticker = tokio::time::interval(Duration::from_secs(1).min(heartbeat));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match console.check_silent(grace).await {
            Ok(0) => {}
            Ok(raised) => tracing::warn!(raised, "defenders went silent while their tasks run"),
            Err(error) => error.log("looking at silent defenders"),
        }
    }
}

/// Forgets incidents past their retention, at start and then hourly.
async fn forget_old_incidents_forever(console: Console) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        ticker.tick().await;
        match console.incidents().forget_old().await {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(forgotten, "old incidents forgotten"),
            Err(error) => error.log("forgetting old incidents"),
        }
    }
}
