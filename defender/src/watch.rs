//! The sidecar's watcher thread: what the wrappers traced, the `/proc` scan (a full scan every
//! `scan_interval`, a cheap probe for new processes every `probe_interval` between them) and the
//! listening ports (at each full scan) become events; every new process and port is judged with
//! the policy in force, alerts pass the flood rule (`flood.rs`), and all of it goes into the one
//! bounded buffer, so alerts count toward its bounds and wait there while the console is away.

use crate::config::Config;
use crate::flood::Flood;
use crate::judging::{self, Judging};
use crate::log::now_ms;
use crate::policy::InForce;
use crate::ports::{Opened, Ports};
use crate::procs::Scanner;
use crate::shared::Shared;
use palisade_policy::judge_port;
use palisade_protocol::{AlertReport, ContainerIdentity, EventKind, ProcessInfo};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Watcher {
    shared: Arc<Shared>,
    containers: Vec<ContainerIdentity>,
    scanner: Scanner,
    judging: Judging,
    ports: Ports,
    flood: Flood,
}

/// Starts the watcher on its own thread.
pub fn start(config: &Config, shared: &Arc<Shared>, containers: Vec<ContainerIdentity>) {
    let proc_root = Path::new("/proc");
    let mut watcher = Watcher {
        shared: shared.clone(),
        containers,
        scanner: Scanner::new(proc_root),
        judging: Judging::new(proc_root, &config.volume),
        ports: Ports::new(proc_root),
        flood: Flood::new(config.alert_burst, config.alert_window),
    };
    let (scan_every, probe_every) = (config.scan_interval, config.probe_interval);
    std::thread::spawn(move || {
        let mut last_scan: Option<Instant> = None;
        loop {
            watcher.round(&mut last_scan, scan_every);
            std::thread::sleep(probe_every);
        }
    });
}

impl Watcher {
    /// One look: the wrappers' records first (so the scan knows those processes), then a probe
    /// or a full scan (and the ports with it), each new process judged.
    fn round(&mut self, last_scan: &mut Option<Instant>, scan_every: Duration) {
        let (traced, in_force) = {
            let mut state = self.shared.lock();
            (std::mem::take(&mut state.traced), state.policy.clone())
        };
        let mut events = Vec::with_capacity(traced.len());
        let mut alerts = Vec::new();
        for mut exec in traced {
            let alert = exec.alert.take();
            let process = self.scanner.traced(exec, &self.containers, &mut events);
            alerts.extend(judging::traced(process, alert));
        }
        let probed = match last_scan {
            Some(at) if at.elapsed() < scan_every => self.scanner.probe(&self.containers),
            _ => None,
        };
        let full = probed.is_none();
        events.extend(probed.unwrap_or_else(|| {
            *last_scan = Some(Instant::now());
            self.scanner.scan(&self.containers).0
        }));
        for fresh in self.scanner.take_fresh() {
            alerts.extend(self.judging.scanned(&in_force, fresh));
        }
        if full {
            for opened in self.ports.scan(&self.containers, &mut self.judging) {
                events.push(EventKind::PortListening(opened.port.clone()));
                alerts.extend(port_alert(&in_force, opened, self.scanner.root()));
            }
        }
        let now = now_ms();
        for alert in alerts {
            if let Some(alert) = self.flood.admit(now, alert) {
                events.push(EventKind::Alert(Box::new(alert)));
            }
        }
        for summary in self.flood.ended(now) {
            events.push(EventKind::Alert(Box::new(summary)));
        }
        let mut state = self.shared.lock();
        state.process_count = self.scanner.process_count();
        for event in events {
            state.buffer.push(now, event);
        }
    }
}

/// A port that began listening, judged: the alert, with the process that holds it.
fn port_alert(in_force: &InForce, opened: Opened, proc_root: &Path) -> Option<AlertReport> {
    let verdict = judge_port(&in_force.policy, &opened.port);
    if verdict.alerts.is_empty() {
        return None;
    }
    let executable = std::fs::read_link(proc_root.join(opened.pid.to_string()).join("exe"))
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(AlertReport {
        policy_revision: in_force.revision,
        alerts: verdict.alerts,
        action: verdict.action,
        outcome: None,
        process: Some(ProcessInfo {
            pid: opened.pid,
            executable,
            container: opened.port.container.clone(),
            ..ProcessInfo::default()
        }),
        port: Some(opened.port),
    })
}
