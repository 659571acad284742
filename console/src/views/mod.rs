//! The console's domain values as the shared answer types of `palisade-types`: what the pages,
//! the REST API and the CLI all show. Here, not in each front end, because the conversion is the
//! same for every one (and Rust lets only the crate that owns one of the two types write it).
//! Times that lists show as dates become RFC 3339; a defender's own clock fields keep their
//! Unix milliseconds (`_ms`).

mod runtime;

pub use runtime::{
    family_list, incident_detail, incident_list, model_view, policy_view, rule_list, rule_words,
};

use crate::auth::users::User;
use crate::aws::ecr;
use crate::clock::{now_ms, rfc3339};
use crate::coverage::Coverage;
use crate::defender_image::Published;
use crate::defenders::history::History;
use crate::defenders::{Defender, DefenderPage, DefenderQuery, TimelineEvent};
use crate::error::{Error, Result};
use crate::generations::GenerationItem;
use crate::images::registries::RegistrySettings;
use crate::images::Resolution;
use crate::redact::Disclosure;
use crate::registrations::Registration;
use crate::settings::{AwsSettings, ENDPOINT_FROM_DEPLOYMENT};
use palisade_types::defenders::{
    ContainerView, CoverageView, DefenderDetail, DefenderEventView, DefenderFilter,
    DefenderHistoryView, DefenderList, DefenderView, FamilySeriesView, ServiceView,
};
use palisade_types::generations::{GenerationListItem, RegistrationView};
use palisade_types::people::UserView;
use palisade_types::protect::{ImageConfigView, ResolutionView};
use palisade_types::settings::{EcsSettingsView, PublishedView, RegistryView};

impl From<Defender> for DefenderView {
    fn from(defender: Defender) -> Self {
        DefenderView {
            status: defender.status(),
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
                .map(|container| ContainerView {
                    name: container.name,
                    image: container.image,
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

/// One defender and its timeline as `disclosure` lets the reader see it: command lines and argv
/// quoted in the timeline may hold secrets.
pub fn defender_detail(
    (defender, events): (Defender, Vec<TimelineEvent>),
    disclosure: Disclosure,
) -> DefenderDetail {
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

impl DefenderQuery {
    /// The filter a URL or a form gave, as a query, or why it cannot be one.
    pub fn from_filter(filter: &DefenderFilter) -> Result<Self> {
        DefenderQuery::parse(
            &filter.status,
            &filter.q,
            &filter.sort,
            filter.page,
            filter.per_page,
        )
    }
}

impl From<Coverage> for CoverageView {
    fn from(coverage: Coverage) -> Self {
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

impl From<History> for DefenderHistoryView {
    fn from(history: History) -> Self {
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

impl From<Published> for PublishedView {
    fn from(published: Published) -> Self {
        PublishedView {
            reference: published.reference,
            tagged: published.tagged,
            architectures: published.architectures,
            repository_created: published.repository_created,
            blobs_pushed: published.report.blobs_pushed,
            blobs_present: published.report.blobs_present,
            manifests_pushed: published.report.manifests_pushed,
            manifests_present: published.report.manifests_present,
        }
    }
}

impl From<AwsSettings> for EcsSettingsView {
    fn from(settings: AwsSettings) -> Self {
        EcsSettingsView {
            region: settings.region.unwrap_or_default(),
            profile: settings.profile.unwrap_or_default(),
            // `Console::aws_settings` puts the deployment's endpoint here.
            endpoint_url: settings.ecs_endpoint_url.unwrap_or_default(),
        }
    }
}

impl AwsSettings {
    /// The fields as settings, or why they cannot work. The endpoint is shown, not set: it may
    /// only come back as the page showed it (`deployed`).
    pub fn from_view(view: &EcsSettingsView, deployed: Option<&str>) -> Result<AwsSettings> {
        let endpoint = view.endpoint_url.trim();
        if !endpoint.is_empty() && Some(endpoint) != deployed {
            return Err(Error::invalid(ENDPOINT_FROM_DEPLOYMENT));
        }
        AwsSettings::parse(&view.region, &view.profile, "")
    }
}

impl From<RegistrySettings> for RegistryView {
    fn from(row: RegistrySettings) -> Self {
        RegistryView {
            ecr_login: row.username.is_none() && ecr::region_of(&row.registry).is_some(),
            registry: row.registry,
            username: row.username.unwrap_or_default(),
            password_ref: row.password_ref.unwrap_or_default(),
            endpoint: row.endpoint.unwrap_or_default(),
            credentials_to_endpoint: row.credentials_to_endpoint,
        }
    }
}

impl From<GenerationItem> for GenerationListItem {
    fn from(item: GenerationItem) -> Self {
        GenerationListItem {
            id: item.id,
            created_at: rfc3339(item.created_at),
            family: item.family,
            containers_protected: item.containers_protected,
            summary: item.summary,
        }
    }
}

impl From<Registration> for RegistrationView {
    fn from(row: Registration) -> Self {
        RegistrationView {
            console_link: row.console_link(),
            id: row.id,
            created_at: rfc3339(row.created_at),
            generation_id: row.generation_id,
            registered_by: row.registered_by,
            family: row.family,
            input_sha256: row.input_sha256,
            output_sha256: row.output_sha256,
            status: row.status,
            task_definition_arn: row.task_definition_arn,
            revision: row.revision,
            error: row.error,
        }
    }
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            username: user.username,
            role: user.role,
            source: user.source,
            created_at: user.created_at,
            last_sign_in_at: user.last_sign_in_at,
        }
    }
}

impl From<Resolution> for ResolutionView {
    fn from(resolution: Resolution) -> Self {
        let (found, error) = match resolution.result {
            Ok(config) => (
                Some(ImageConfigView {
                    platform: config.platform,
                    digest: config.digest,
                    entrypoint: config.entrypoint,
                    cmd: config.cmd,
                    resolved_at: rfc3339(config.resolved_at_ms),
                }),
                None,
            ),
            Err(error) => (None, Some(error)),
        };
        ResolutionView {
            container: resolution.container,
            image: resolution.image,
            found,
            error,
        }
    }
}
