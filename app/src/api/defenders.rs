//! The Defenders pages' server functions and view types (also the REST API's answers).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
}

/// Whether a defender's task is protected right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefenderStatus {
    Connected,
    Disconnected,
}

impl DefenderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DefenderStatus::Connected => "connected",
            DefenderStatus::Disconnected => "disconnected",
        }
    }
}

/// One defender (one task), as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderView {
    pub id: i64,
    pub status: DefenderStatus,
    pub task_arn: String,
    pub cluster: String,
    pub family: String,
    pub revision: String,
    pub availability_zone: String,
    pub launch_type: String,
    pub version: String,
    pub mode: String,
    pub containers: Vec<ContainerView>,
    pub process_count: i64,
    pub dropped_events: i64,
    /// Unix milliseconds.
    pub first_seen_ms: i64,
    pub connected_since_ms: i64,
    pub last_seen_ms: i64,
    pub disconnected_at_ms: Option<i64>,
}

impl DefenderView {
    /// The task ID (the last segment of the task ARN).
    pub fn task_id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }

    /// The cluster name, also when the metadata gave its ARN.
    pub fn cluster_name(&self) -> &str {
        self.cluster.rsplit('/').next().unwrap_or(&self.cluster)
    }
}

/// Which defenders to list, as a URL or a form says it. Unknown statuses and sorts are refused
/// rather than listing everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DefenderFilter {
    /// `connected`, `disconnected`, or empty for both.
    pub status: String,
    /// Matched against family, cluster, task ARN, AZ and container names and images.
    pub q: String,
    /// `status` (default: connected first, then last seen), `family`, `cluster`,
    /// `connected_since`, `last_seen` or `processes`.
    pub sort: String,
    /// From 1.
    pub page: u32,
    /// 1 to 500, default 50.
    pub per_page: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderList {
    pub defenders: Vec<DefenderView>,
    /// Matching the filter, over all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    /// Over all defenders, whatever the filter.
    pub connected: i64,
    pub disconnected: i64,
    /// Families with at least one connected defender.
    pub protected_families: i64,
    /// The console's clock, so "connected for" is right even when the browser's is not.
    pub now_ms: i64,
}

/// One entry of a defender's process timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderEventView {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub pid: Option<i64>,
    pub container: Option<String>,
    /// What happened, in a line.
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderDetail {
    pub defender: DefenderView,
    /// Newest first.
    pub events: Vec<DefenderEventView>,
    pub now_ms: i64,
}

/// How many timeline entries a defender's page shows.
pub const TIMELINE_LENGTH: i64 = 500;

/// The Defenders page's list (what defenders reported, printable: see [`DefenderView::printable`]).
#[server(endpoint = "list-defenders")]
pub async fn list_defenders(filter: DefenderFilter) -> Result<DefenderList, ServerFnError> {
    let console = super::console_for::<ListDefenders>()?;
    let query = filter.parse().map_err(super::server_error)?;
    let page = console
        .defenders()
        .list(&query)
        .await
        .map_err(super::server_error)?;
    Ok(DefenderList::from(page).printable())
}

/// One defender with its process timeline, as the caller may see it (a viewer sees no secret in
/// a command line), printable.
#[server(endpoint = "get-defender")]
pub async fn get_defender(id: i64) -> Result<DefenderDetail, ServerFnError> {
    let console = super::console_for::<GetDefender>()?;
    let found = console
        .defenders()
        .get(id, TIMELINE_LENGTH)
        .await
        .map_err(super::server_error)?;
    Ok(DefenderDetail::disclosed(found, super::disclosure()).printable())
}

/// One ECS service: the revision it runs, whether it is protected, and its running tasks with a
/// connected defender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub cluster: String,
    pub service: String,
    /// `family:revision`.
    pub task_definition: String,
    /// `None`: its task definition could not be read.
    pub protected: Option<bool>,
    pub desired: i32,
    pub running: i64,
    pub with_defender: i64,
}

/// Coverage of the account's ECS services (the console's AWS settings), unprotected first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoverageView {
    pub services: Vec<ServiceView>,
    pub read_at_ms: i64,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

/// Coverage of every ECS service in the account's clusters (read from ECS at most every 30 s, or
/// every 3 s when `refresh`).
#[server(endpoint = "service-coverage")]
pub async fn service_coverage(refresh: bool) -> Result<CoverageView, ServerFnError> {
    use palisade_console::coverage::{FRESH_FOR, REFRESH_AFTER};
    let console = super::console_for::<ServiceCoverage>()?;
    let max_age = if refresh { REFRESH_AFTER } else { FRESH_FOR };
    let coverage = console
        .coverage_within(max_age)
        .await
        .map_err(super::server_error)?;
    Ok(coverage.into())
}

#[cfg(feature = "ssr")]
impl From<palisade_console::coverage::Coverage> for CoverageView {
    fn from(coverage: palisade_console::coverage::Coverage) -> Self {
        CoverageView {
            services: coverage
                .services
                .into_iter()
                .map(|service| ServiceView {
                    cluster: service.cluster,
                    service: service.service,
                    task_definition: service.task_definition,
                    protected: service.protected,
                    desired: service.desired,
                    running: service.running,
                    with_defender: service.with_defender,
                })
                .collect(),
            read_at_ms: coverage.read_at_ms,
            notes: coverage.notes,
        }
    }
}

/// One family's connected defenders per bucket (`family` is `None` for the others, summed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilySeriesView {
    pub family: Option<String>,
    pub connected: Vec<i64>,
}

/// The last 24 hours in equal buckets: connected defenders by family (the most at once in each
/// bucket) and events per minute (averaged over it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderHistoryView {
    pub start_ms: i64,
    pub bucket_ms: i64,
    pub families: Vec<FamilySeriesView>,
    pub events_per_minute: Vec<f64>,
}

impl DefenderHistoryView {
    pub fn buckets(&self) -> usize {
        self.events_per_minute.len()
    }

    /// The hours the buckets span.
    pub fn hours(&self) -> u64 {
        (self.bucket_ms.max(0) as u64 * self.buckets() as u64) / 3_600_000
    }
}

/// The Defenders page's charts.
#[server(endpoint = "defender-history")]
pub async fn defender_history() -> Result<DefenderHistoryView, ServerFnError> {
    let console = super::console_for::<DefenderHistory>()?;
    let history = console
        .defender_history()
        .await
        .map_err(super::server_error)?;
    Ok(history.into())
}

#[cfg(feature = "ssr")]
impl From<palisade_console::defenders::history::History> for DefenderHistoryView {
    fn from(history: palisade_console::defenders::history::History) -> Self {
        DefenderHistoryView {
            start_ms: history.start_ms,
            bucket_ms: history.bucket_ms,
            families: history
                .families
                .into_iter()
                .map(|series| FamilySeriesView {
                    family: series.family,
                    connected: series.connected,
                })
                .collect(),
            events_per_minute: history.events_per_minute,
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use palisade_console::clock::now_ms;
    use palisade_console::defenders::{self, Defender, DefenderPage, DefenderQuery};
    use palisade_console::redact::Disclosure;
    use palisade_console::text::printable;

    /// A defender's string as pages and terminals may show it.
    fn shown(text: String) -> String {
        let escaped = match printable(&text) {
            std::borrow::Cow::Owned(escaped) => Some(escaped),
            std::borrow::Cow::Borrowed(_) => None,
        };
        escaped.unwrap_or(text)
    }

    impl DefenderView {
        /// Every string the defender reported with its control characters shown escaped (`\n`,
        /// `\u{1b}`): what pages and the command line's table show, so a compromised task can
        /// neither drive a terminal nor break a line. The JSON API keeps the exact text (JSON
        /// escapes control characters itself).
        pub fn printable(self) -> Self {
            DefenderView {
                task_arn: shown(self.task_arn),
                cluster: shown(self.cluster),
                family: shown(self.family),
                revision: shown(self.revision),
                availability_zone: shown(self.availability_zone),
                launch_type: shown(self.launch_type),
                version: shown(self.version),
                mode: shown(self.mode),
                containers: self
                    .containers
                    .into_iter()
                    .map(|container| ContainerView {
                        name: shown(container.name),
                        image: shown(container.image),
                    })
                    .collect(),
                ..self
            }
        }
    }

    impl DefenderList {
        /// Every defender [`DefenderView::printable`].
        pub fn printable(self) -> Self {
            DefenderList {
                defenders: self
                    .defenders
                    .into_iter()
                    .map(DefenderView::printable)
                    .collect(),
                ..self
            }
        }
    }

    impl DefenderDetail {
        /// One defender and its timeline as `disclosure` lets the reader see it: command lines
        /// and argv quoted in the timeline may hold secrets.
        pub fn disclosed(
            (defender, events): (Defender, Vec<defenders::TimelineEvent>),
            disclosure: Disclosure,
        ) -> Self {
            DefenderDetail {
                defender: defender.into(),
                events: events
                    .into_iter()
                    .map(|event| DefenderEventView {
                        summary: disclosure.text(&event.summary).into_owned(),
                        seq: event.seq,
                        at_ms: event.at_ms,
                        kind: event.kind,
                        pid: event.pid,
                        container: event.container,
                    })
                    .collect(),
                now_ms: now_ms(),
            }
        }

        /// The defender and its timeline's strings [`DefenderView::printable`].
        pub fn printable(self) -> Self {
            DefenderDetail {
                defender: self.defender.printable(),
                events: self
                    .events
                    .into_iter()
                    .map(|event| DefenderEventView {
                        kind: shown(event.kind),
                        container: event.container.map(shown),
                        summary: shown(event.summary),
                        ..event
                    })
                    .collect(),
                now_ms: self.now_ms,
            }
        }
    }

    impl DefenderFilter {
        /// The filter as a query, or why it cannot be one.
        pub fn parse(&self) -> palisade_console::Result<DefenderQuery> {
            DefenderQuery::parse(&self.status, &self.q, &self.sort, self.page, self.per_page)
        }
    }

    impl From<Defender> for DefenderView {
        fn from(defender: Defender) -> Self {
            DefenderView {
                status: match defender.status() {
                    defenders::DefenderStatus::Connected => DefenderStatus::Connected,
                    defenders::DefenderStatus::Disconnected => DefenderStatus::Disconnected,
                },
                id: defender.id,
                task_arn: defender.task_arn,
                cluster: defender.cluster,
                family: defender.family,
                revision: defender.revision,
                availability_zone: defender.availability_zone,
                launch_type: defender.launch_type,
                version: defender.version,
                mode: defender.mode,
                containers: defender
                    .containers
                    .into_iter()
                    .map(|c| ContainerView {
                        name: c.name,
                        image: c.image,
                    })
                    .collect(),
                process_count: defender.process_count,
                dropped_events: defender.dropped_events,
                first_seen_ms: defender.first_seen,
                connected_since_ms: defender.connected_since,
                last_seen_ms: defender.last_seen,
                disconnected_at_ms: defender.disconnected_at,
            }
        }
    }

    impl From<DefenderPage> for DefenderList {
        fn from(page: DefenderPage) -> Self {
            DefenderList {
                defenders: page.defenders.into_iter().map(Into::into).collect(),
                total: page.total,
                page: page.page,
                per_page: page.per_page,
                connected: page.connected,
                disconnected: page.disconnected,
                protected_families: page.protected_families,
                now_ms: page.now_ms,
            }
        }
    }
}
