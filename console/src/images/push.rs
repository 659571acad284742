//! Pushing an image over the OCI distribution API, under the rules reads obey (see [`super::oci`]):
//! credentials only to the registry's own origin, plain HTTP only where the registry is plain,
//! never a link-local target. What the registry already holds is not sent again: blobs and
//! manifests are asked for first (`HEAD`), so pushing the same image twice uploads nothing.

use super::oci::{Session, MANIFEST_TYPES};
use super::reference::ImageRef;
use super::{Access, ResolveError};
use crate::defender_image::build::Content;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use std::time::Duration;

/// A whole push (a few MiB) fails past this.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(300);

/// What a push sent and what the registry already had.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushReport {
    pub blobs_pushed: usize,
    pub blobs_present: usize,
    pub manifests_pushed: usize,
    pub manifests_present: usize,
}

/// Pushes `blobs`, then `manifests` by digest, then `index` as `tag`, to `target`'s repository
/// as `access` says.
pub async fn push(
    target: &ImageRef,
    access: &Access,
    blobs: &[Content],
    manifests: &[Content],
    index: &Content,
    tag: &str,
) -> Result<PushReport, ResolveError> {
    let name = format!("{}/{}", target.registry, target.repository);
    let mut session = Session {
        image: &name,
        repository: &target.repository,
        origin: access.origin.clone(),
        credentials: access.credentials.as_ref(),
        actions: "pull,push",
        auth: None,
    };
    let work = async {
        let mut report = PushReport::default();
        for blob in blobs {
            if has_blob(&mut session, blob).await? {
                report.blobs_present += 1;
            } else {
                upload_blob(&mut session, blob).await?;
                report.blobs_pushed += 1;
            }
        }
        let tagged = std::iter::once((index, tag));
        for (manifest, reference) in manifests
            .iter()
            .map(|manifest| (manifest, manifest.digest.as_str()))
            .chain(tagged)
        {
            if has_manifest(&mut session, manifest, reference).await? {
                report.manifests_present += 1;
            } else {
                put_manifest(&mut session, manifest, reference).await?;
                report.manifests_pushed += 1;
            }
        }
        Ok(report)
    };
    tokio::time::timeout(PUSH_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(ResolveError::Timeout {
                image: name.clone(),
                seconds: PUSH_TIMEOUT.as_secs(),
            })
        })
}

fn url(session: &Session<'_>, path: &str) -> Result<Url, ResolveError> {
    session
        .origin
        .join(path)
        .map_err(|error| session.other(format!("a request path: {error}")))
}

/// The registry's refusal in words a user acts on (its own text is never shown).
fn refused(session: &Session<'_>, status: StatusCode, doing: &str) -> ResolveError {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => session.other(format!(
            "the registry refused to {doing} (HTTP {status}): give the console credentials that may push there (Settings, Registries), or for ECR the permissions docs/configuration.md lists (AWS)"
        )),
        _ => session.other(format!("the registry answered HTTP {status} to {doing}")),
    }
}

async fn has_blob(session: &mut Session<'_>, blob: &Content) -> Result<bool, ResolveError> {
    let path = format!("/v2/{}/blobs/{}", session.repository, blob.digest);
    let response = session
        .exchange(Method::HEAD, url(session, &path)?, None, None)
        .await?;
    match response.status() {
        status if status.is_success() => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        status => Err(refused(session, status, "look for a layer")),
    }
}

/// The upload location a registry answered, on its own origin.
fn upload_location(session: &Session<'_>, headers: &HeaderMap) -> Result<Url, ResolveError> {
    let location = headers
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| session.other("the registry started an upload without a location"))?;
    let next = session
        .origin
        .join(location)
        .map_err(|_| session.other("the registry's upload location is not a URL"))?;
    // The upload carries the credentials: it stays where they belong.
    if next.origin() != session.origin.origin() {
        return Err(session.other(
            "the registry moved the upload to another host, which the console does not follow with its credentials",
        ));
    }
    Ok(next)
}

/// POST to start, PATCH the bytes, PUT with the digest to finish (what Docker does, and what
/// every registry, ECR included, accepts).
async fn upload_blob(session: &mut Session<'_>, blob: &Content) -> Result<(), ResolveError> {
    let doing = "upload a layer";
    let start = url(
        session,
        &format!("/v2/{}/blobs/uploads/", session.repository),
    )?;
    let started = session.exchange(Method::POST, start, None, None).await?;
    if started.status() != StatusCode::ACCEPTED {
        return Err(refused(session, started.status(), doing));
    }
    let location = upload_location(session, started.headers())?;
    let sent = session
        .exchange(
            Method::PATCH,
            location,
            None,
            Some(("application/octet-stream", &blob.bytes)),
        )
        .await?;
    if sent.status() != StatusCode::ACCEPTED {
        return Err(refused(session, sent.status(), doing));
    }
    let mut finish = upload_location(session, sent.headers())?;
    finish.query_pairs_mut().append_pair("digest", &blob.digest);
    let finished = session
        .exchange(
            Method::PUT,
            finish,
            None,
            Some(("application/octet-stream", &[])),
        )
        .await?;
    match finished.status() {
        StatusCode::CREATED => Ok(()),
        status => Err(refused(session, status, doing)),
    }
}

/// Whether `reference` (a digest, or a tag) already names exactly `manifest`.
async fn has_manifest(
    session: &mut Session<'_>,
    manifest: &Content,
    reference: &str,
) -> Result<bool, ResolveError> {
    let path = format!("/v2/{}/manifests/{reference}", session.repository);
    let response = session
        .exchange(
            Method::HEAD,
            url(session, &path)?,
            Some(MANIFEST_TYPES),
            None,
        )
        .await?;
    match response.status() {
        status if status.is_success() => Ok(response
            .headers()
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|digest| digest == manifest.digest)),
        StatusCode::NOT_FOUND => Ok(false),
        status => Err(refused(session, status, "look for a manifest")),
    }
}

async fn put_manifest(
    session: &mut Session<'_>,
    manifest: &Content,
    reference: &str,
) -> Result<(), ResolveError> {
    let path = format!("/v2/{}/manifests/{reference}", session.repository);
    let response = session
        .exchange(
            Method::PUT,
            url(session, &path)?,
            None,
            Some((manifest.media_type, &manifest.bytes)),
        )
        .await?;
    match response.status() {
        StatusCode::CREATED | StatusCode::OK => Ok(()),
        status => Err(refused(session, status, "store a manifest")),
    }
}
