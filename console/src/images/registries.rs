//! Private registries: credentials by reference (a user name and where the password is read:
//! `env:NAME` or `file:/path`, so the console never stores or shows a password) and an endpoint of
//! their own (a mirror, a pull-through cache, a private endpoint), as containerd's `hosts.toml`.

use crate::clock::now_ms;
use crate::error::{Context, Error, Result};
use crate::text::non_blank;
use sqlx::SqlitePool;

/// How the console reaches one registry. Never a password.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistrySettings {
    /// `host[:port]` as in image references (`docker.io` for Docker Hub).
    pub registry: String,
    pub username: Option<String>,
    /// `env:NAME` or `file:/path`.
    pub password_ref: Option<String>,
    /// `https://host[:port]` or `http://host[:port]` to reach the registry at instead.
    pub endpoint: Option<String>,
}

impl RegistrySettings {
    /// Settings from a form or a request: blank fields are unset ones; refused with how to fix
    /// them when they cannot work.
    pub fn parse(
        registry: &str,
        username: Option<&str>,
        password_ref: Option<&str>,
        endpoint: Option<&str>,
    ) -> Result<Self> {
        let settings = RegistrySettings {
            registry: registry.trim().to_owned(),
            username: non_blank(username),
            password_ref: non_blank(password_ref),
            endpoint: non_blank(endpoint).map(|e| e.trim_end_matches('/').to_owned()),
        };
        settings.check().map_err(Error::invalid)?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        let registry = &self.registry;
        if registry.is_empty() || registry.contains('/') || registry.contains(char::is_whitespace) {
            return Err(format!(
                "`{registry}` is not a registry host like registry.example.com:5000"
            ));
        }
        match (&self.username, &self.password_ref) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err("give both a user name and a password reference, or neither".into())
            }
            (Some(_), Some(password_ref)) => match password_ref.split_once(':') {
                Some(("env", name)) if !name.is_empty() => {}
                Some(("file", path)) if path.starts_with('/') => {}
                _ => return Err("the password is given by reference: env:VARIABLE or file:/absolute/path (it is never stored)".into()),
            },
        }
        if let Some(endpoint) = &self.endpoint {
            check_endpoint(endpoint)?;
        }
        if self.username.is_none() && self.endpoint.is_none() {
            return Err("give credentials, an endpoint, or both".into());
        }
        Ok(())
    }
}

fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "endpoint `{endpoint}` {why}: write it as https://host[:port] (http:// for a registry without TLS)"
        ))
    };
    let Ok(url) = url::Url::parse(endpoint) else {
        return refuse("is not a URL");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("is neither http nor https");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return refuse("has no host");
    }
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return refuse("has more than a host and port (the registry must answer at /v2/)");
    }
    Ok(())
}

/// The password the reference points at, now.
pub fn read_password(password_ref: &str) -> Result<String, String> {
    match password_ref.split_once(':') {
        Some(("env", name)) => {
            std::env::var(name).map_err(|_| format!("the environment variable {name} is not set"))
        }
        Some(("file", path)) => std::fs::read_to_string(path)
            .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|error| format!("{path}: {error}")),
        _ => Err(format!("`{password_ref}` is not env:NAME or file:/path")),
    }
}

/// Saves one registry's settings, replacing what it had.
#[tracing::instrument(skip_all, fields(registry = %settings.registry))]
pub async fn save(db: &SqlitePool, settings: &RegistrySettings) -> Result<()> {
    let created_at = now_ms();
    sqlx::query!(
        "INSERT INTO registries (registry, username, password_ref, endpoint, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (registry) DO UPDATE SET username = excluded.username,
             password_ref = excluded.password_ref, endpoint = excluded.endpoint",
        settings.registry,
        settings.username,
        settings.password_ref,
        settings.endpoint,
        created_at
    )
    .execute(db)
    .await
    .context("saving a registry")?;
    Ok(())
}

/// Every registry with settings, by host.
#[tracing::instrument(skip_all)]
pub async fn list(db: &SqlitePool) -> Result<Vec<RegistrySettings>> {
    sqlx::query_as!(
        RegistrySettings,
        r#"SELECT registry AS "registry!", username, password_ref, endpoint FROM registries ORDER BY registry"#
    )
    .fetch_all(db)
    .await
    .context("listing the registries")
}

/// Forgets one registry's settings.
#[tracing::instrument(skip(db))]
pub async fn remove(db: &SqlitePool, registry: &str) -> Result<()> {
    let done = sqlx::query!("DELETE FROM registries WHERE registry = ?", registry)
        .execute(db)
        .await
        .context("removing a registry")?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("no settings for {registry}")));
    }
    Ok(())
}

/// One registry's settings, if it has any.
pub async fn get(db: &SqlitePool, registry: &str) -> Result<Option<RegistrySettings>> {
    sqlx::query_as!(
        RegistrySettings,
        r#"SELECT registry AS "registry!", username, password_ref, endpoint FROM registries WHERE registry = ?"#,
        registry
    )
    .fetch_optional(db)
    .await
    .context("reading a registry's settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_settings_are_checked_with_a_way_to_fix_them() {
        let parse = |username: Option<&str>, password_ref: Option<&str>, endpoint: Option<&str>| {
            RegistrySettings::parse("registry.example:5000", username, password_ref, endpoint)
        };
        assert!(parse(Some("ci"), Some("env:REG_PASSWORD"), None).is_ok());
        assert_eq!(
            parse(None, None, Some("http://127.0.0.1:5000/"))
                .unwrap()
                .endpoint
                .as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert!(parse(
            Some("ci"),
            Some("file:/run/secrets/registry"),
            Some("https://mirror.example")
        )
        .is_ok());
        let refused = |result: Result<RegistrySettings>| result.unwrap_err().to_string();
        assert!(refused(parse(None, None, None)).contains("credentials, an endpoint"));
        assert!(refused(parse(Some("ci"), None, None)).contains("both"));
        assert!(refused(parse(Some("ci"), Some("hunter2"), None)).contains("env:VARIABLE"));
        assert!(refused(parse(None, None, Some("ftp://mirror"))).contains("https://host"));
        assert!(refused(parse(None, None, Some("https://mirror/v2/x"))).contains("/v2/"));
        assert!(refused(parse(None, None, Some("mirror.example"))).contains("not a URL"));
        assert!(refused(RegistrySettings::parse(
            "docker.io/library",
            Some("ci"),
            Some("env:X"),
            None
        ))
        .contains("registry host"));
        // Blank form fields are unset ones.
        assert_eq!(
            parse(Some(" "), Some(""), Some("http://h:1"))
                .unwrap()
                .username,
            None
        );
    }
}
