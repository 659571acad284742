//! The console's own background work, started once by whoever serves it
//! ([`Console::start_jobs`]): the defenders' writer, the sweep of silent defenders, the minute
//! samples behind the charts, forgetting old generations, and writing down when credentials
//! were last used. [`Jobs::stop`] ends them and writes what they still hold.

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
