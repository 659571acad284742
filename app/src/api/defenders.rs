//! The Defenders pages' server functions; their types (also the REST API's answers) are
//! `palisade_types::defenders`.

use leptos::prelude::*;

pub use palisade_types::defenders::{
    ContainerView, CoverageView, DefenderDetail, DefenderEventView, DefenderFilter,
    DefenderHistoryView, DefenderList, DefenderStatus, DefenderView, FamilySeriesView, ServiceView,
};

/// How many timeline entries a defender's page shows.
pub const TIMELINE_LENGTH: i64 = 500;

/// The Defenders page's list (what defenders reported, see [`Printable`]).
#[server(endpoint = "list-defenders")]
pub async fn list_defenders(filter: DefenderFilter) -> Result<DefenderList, ServerFnError> {
    let console = super::console_for::<ListDefenders>()?;
    let query = palisade_console::defenders::DefenderQuery::from_filter(&filter)
        .map_err(super::server_error)?;
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
    Ok(palisade_console::views::defender_detail(found, super::disclosure()).printable())
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
pub use ssr::Printable;

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use palisade_console::text::printable;

    /// A defender's string as pages and terminals may show it.
    fn shown(text: String) -> String {
        let escaped = match printable(&text) {
            std::borrow::Cow::Owned(escaped) => Some(escaped),
            std::borrow::Cow::Borrowed(_) => None,
        };
        escaped.unwrap_or(text)
    }

    /// Every string a defender reported with its control characters shown escaped (`\n`,
    /// `\u{1b}`): what pages and the command line's table show, so a compromised task can
    /// neither drive a terminal nor break a line. The JSON API keeps the exact text (JSON
    /// escapes control characters itself).
    pub trait Printable {
        fn printable(self) -> Self;
    }

    impl Printable for DefenderView {
        fn printable(self) -> Self {
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

    impl Printable for DefenderList {
        fn printable(self) -> Self {
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

    impl Printable for DefenderDetail {
        fn printable(self) -> Self {
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
}
