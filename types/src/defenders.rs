//! Defenders as the Defenders pages, the REST API and the CLI show them, and the coverage of the
//! account's ECS services.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerView {
    pub name: String,
    pub image: String,
}

/// Whether a defender's task is protected right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A page of defenders, with the counts the dashboard shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DefenderEventView {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub pid: Option<i64>,
    pub container: Option<String>,
    /// What happened, in a line.
    pub summary: String,
}

/// One defender and its process timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DefenderDetail {
    pub defender: DefenderView,
    /// Newest first.
    pub events: Vec<DefenderEventView>,
    pub now_ms: i64,
}

/// One ECS service: the revision it runs, whether it is protected, and its running tasks with a
/// connected defender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageView {
    pub services: Vec<ServiceView>,
    pub read_at_ms: i64,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

/// One family's connected defenders per bucket (`family` is `None` for the others, summed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FamilySeriesView {
    pub family: Option<String>,
    pub connected: Vec<i64>,
}

/// The last 24 hours in equal buckets: connected defenders by family (the most at once in each
/// bucket) and events per minute (averaged over it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_written_as_the_words_the_api_and_filters_use() {
        for status in [DefenderStatus::Connected, DefenderStatus::Disconnected] {
            let written = serde_json::to_value(status).unwrap();
            assert_eq!(written, status.as_str());
            assert_eq!(
                serde_json::from_value::<DefenderStatus>(written).unwrap(),
                status
            );
        }
    }
}
