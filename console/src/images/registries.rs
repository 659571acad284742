//! Private registries: credentials by reference (a user name and where the password is read:
//! `env:PALISADE_REGISTRY_*` or `file:` under `PALISADE_SECRETS_DIR`, so the console never stores
//! or shows a password, and a request can only point at what the deployment set aside for it)
//! and an endpoint of their own (a mirror, a pull-through cache, a private endpoint), as
//! containerd's `hosts.toml`. A registry's credentials (or its ECR login) go to another endpoint
//! only when the admin said so, and that choice is shown.

use crate::aws::ecr;
use crate::clock::now_ms;
use crate::error::{Context, Error, Result};
use crate::text::non_blank;
use sqlx::SqlitePool;
use std::io::Read;
use std::path::{Component, Path};

/// The only environment variables a password reference may name start with this.
pub const ENV_PREFIX: &str = "PALISADE_REGISTRY_";
/// The most a password file may hold.
pub const MAX_PASSWORD_BYTES: u64 = 64 * 1024;

/// How the console reaches one registry. Never a password.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistrySettings {
    /// `host[:port]` as in image references (`docker.io` for Docker Hub).
    pub registry: String,
    pub username: Option<String>,
    /// `env:PALISADE_REGISTRY_NAME` or `file:/path` under `PALISADE_SECRETS_DIR`.
    pub password_ref: Option<String>,
    /// `https://host[:port]` or `http://host[:port]` to reach the registry at instead.
    pub endpoint: Option<String>,
    /// The admin chose to send this registry's credentials (or its ECR login) to `endpoint`.
    #[serde(default)]
    pub credentials_to_endpoint: bool,
}

impl RegistrySettings {
    /// Settings from a form or a request: blank fields are unset ones; refused with how to fix
    /// them when they cannot work or would reach for what the deployment did not set aside
    /// (`secrets_dir`: `PALISADE_SECRETS_DIR`).
    pub fn parse(
        registry: &str,
        username: Option<&str>,
        password_ref: Option<&str>,
        endpoint: Option<&str>,
        credentials_to_endpoint: bool,
        secrets_dir: Option<&Path>,
    ) -> Result<Self> {
        let settings = RegistrySettings {
            registry: registry.trim().to_owned(),
            username: non_blank(username),
            password_ref: non_blank(password_ref),
            endpoint: non_blank(endpoint).map(|e| e.trim_end_matches('/').to_owned()),
            credentials_to_endpoint,
        };
        settings.check(secrets_dir).map_err(Error::invalid)?;
        Ok(settings)
    }

    fn check(&self, secrets_dir: Option<&Path>) -> Result<(), String> {
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
            (Some(_), Some(password_ref)) => check_password_ref(password_ref, secrets_dir)?,
        }
        if let Some(endpoint) = &self.endpoint {
            check_endpoint(endpoint)?;
            if let Some(whose) = self.credentials_leaving() {
                if !self.credentials_to_endpoint {
                    return Err(format!(
                        "{whose} would go to {endpoint} instead of {registry}: confirm it (credentials_to_endpoint, \"send the credentials to the endpoint\" in Settings) or remove the endpoint"
                    ));
                }
            }
        }
        if self.username.is_none() && self.endpoint.is_none() {
            return Err("give credentials, an endpoint, or both".into());
        }
        Ok(())
    }

    /// What would be sent to the endpoint instead of the registry: its credentials, or the ECR
    /// login of an ECR host.
    pub fn credentials_leaving(&self) -> Option<String> {
        if self.username.is_some() {
            Some(format!("the credentials of {}", self.registry))
        } else {
            ecr::region_of(&self.registry).map(|_| format!("the ECR login of {}", self.registry))
        }
    }
}

/// `env:` names only `PALISADE_REGISTRY_*`; `file:` only a path inside `secrets_dir`.
fn check_password_ref(password_ref: &str, secrets_dir: Option<&Path>) -> Result<(), String> {
    match password_ref.split_once(':') {
        Some(("env", name)) => {
            let allowed = name.len() > ENV_PREFIX.len()
                && name.starts_with(ENV_PREFIX)
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if allowed {
                Ok(())
            } else {
                Err(format!(
                    "env:{name} is not allowed: a registry password comes from a variable named {ENV_PREFIX}<NAME> (uppercase, digits, _) set in the console's environment"
                ))
            }
        }
        Some(("file", path)) => {
            let Some(dir) = secrets_dir else {
                return Err("file: references are read only from PALISADE_SECRETS_DIR, which this console's deployment does not set: set it, or use env:PALISADE_REGISTRY_<NAME>".into());
            };
            let path = Path::new(path);
            let inside = path.is_absolute()
                && path
                    .components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
                && path.starts_with(dir)
                && path != dir;
            if inside {
                Ok(())
            } else {
                Err(format!(
                    "file:{} is not allowed: a password file is a plain path inside PALISADE_SECRETS_DIR ({}), without ..",
                    path.display(),
                    dir.display()
                ))
            }
        }
        _ => Err(format!(
            "the password is given by reference: env:{ENV_PREFIX}<NAME> or file:<path inside PALISADE_SECRETS_DIR> (it is never stored)"
        )),
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
    if let Some(host) = url.host() {
        if crate::outbound::is_forbidden_host(&host) {
            return refuse(
                "is a link-local address (the metadata service), which the console never asks",
            );
        }
    }
    Ok(())
}

/// The password the reference points at, now, read off the async runtime: checked again (the
/// reference may be older than the rules, or the deployment may have changed), a file resolved
/// through its links and still inside `secrets_dir`, a regular file, at most
/// [`MAX_PASSWORD_BYTES`], opened without blocking (a FIFO cannot hold a thread).
pub async fn read_password(
    password_ref: &str,
    secrets_dir: Option<&Path>,
) -> Result<String, String> {
    check_password_ref(password_ref, secrets_dir)?;
    match password_ref.split_once(':') {
        Some(("env", name)) => {
            std::env::var(name).map_err(|_| format!("the environment variable {name} is not set"))
        }
        Some(("file", path)) => {
            let (path, dir) = (
                Path::new(path).to_owned(),
                secrets_dir.map(Path::to_owned).unwrap_or_default(),
            );
            tokio::task::spawn_blocking(move || read_password_file(&path, &dir))
                .await
                .map_err(|_| "reading the password file failed".to_owned())?
        }
        _ => unreachable!("checked just above"),
    }
}

/// Reads the password file at `path` (inside `dir`) through a handle on `dir`, in one system call
/// that refuses any symbolic link on the way and anything outside `dir` (`openat2` with
/// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`): checking the path first and opening it after would
/// let a directory swapped for a link in between send another file (`/etc/shadow`) to the
/// registry. Non-blocking (a FIFO cannot hold a thread), a regular file, at most
/// [`MAX_PASSWORD_BYTES`].
fn read_password_file(path: &Path, dir: &Path) -> Result<String, String> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    let shown = path.display();
    let relative = path.strip_prefix(dir).map_err(|_| {
        format!(
            "{shown} is not inside PALISADE_SECRETS_DIR ({})",
            dir.display()
        )
    })?;
    let directory = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|error| format!("PALISADE_SECRETS_DIR ({}): {error}", dir.display()))?;
    let file = openat2(
        &directory,
        relative,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|error| match error {
        rustix::io::Errno::LOOP | rustix::io::Errno::XDEV => format!(
            "{shown} goes through a symbolic link or out of PALISADE_SECRETS_DIR: it is not read (keep password files as plain files there)"
        ),
        rustix::io::Errno::NOSYS => format!(
            "{shown}: this kernel cannot open a file without following links (openat2, Linux 5.6): use env:{ENV_PREFIX}<NAME>"
        ),
        other => format!("{shown}: {}", std::io::Error::from(other)),
    })?;
    let file = std::fs::File::from(file);
    let metadata = file
        .metadata()
        .map_err(|error| format!("{shown}: {error}"))?;
    if !metadata.is_file() {
        return Err(format!("{shown} is not a regular file: it is not read"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PASSWORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("{shown}: {error}"))?;
    if bytes.len() as u64 > MAX_PASSWORD_BYTES {
        return Err(format!(
            "{shown} holds more than {} KiB: it is not a password",
            MAX_PASSWORD_BYTES / 1024
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Saves one registry's settings, replacing what it had.
#[tracing::instrument(skip_all, fields(registry = %settings.registry))]
pub async fn save(db: &SqlitePool, settings: &RegistrySettings) -> Result<()> {
    let created_at = now_ms();
    sqlx::query!(
        "INSERT INTO registries (registry, username, password_ref, endpoint, credentials_to_endpoint, created_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (registry) DO UPDATE SET username = excluded.username,
             password_ref = excluded.password_ref, endpoint = excluded.endpoint,
             credentials_to_endpoint = excluded.credentials_to_endpoint",
        settings.registry,
        settings.username,
        settings.password_ref,
        settings.endpoint,
        settings.credentials_to_endpoint,
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
        r#"SELECT registry AS "registry!", username, password_ref, endpoint,
                  credentials_to_endpoint AS "credentials_to_endpoint: bool"
           FROM registries ORDER BY registry"#
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
        r#"SELECT registry AS "registry!", username, password_ref, endpoint,
                  credentials_to_endpoint AS "credentials_to_endpoint: bool"
           FROM registries WHERE registry = ?"#,
        registry
    )
    .fetch_optional(db)
    .await
    .context("reading a registry's settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        username: Option<&str>,
        password_ref: Option<&str>,
        endpoint: Option<&str>,
    ) -> Result<RegistrySettings> {
        RegistrySettings::parse(
            "registry.example:5000",
            username,
            password_ref,
            endpoint,
            false,
            Some(Path::new("/run/palisade-secrets")),
        )
    }

    fn refused(result: Result<RegistrySettings>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn registry_settings_are_checked_with_a_way_to_fix_them() {
        assert!(parse(Some("ci"), Some("env:PALISADE_REGISTRY_CI"), None).is_ok());
        assert_eq!(
            parse(None, None, Some("http://127.0.0.1:5000/"))
                .unwrap()
                .endpoint
                .as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert!(parse(
            Some("ci"),
            Some("file:/run/palisade-secrets/registry"),
            None
        )
        .is_ok());
        assert!(refused(parse(None, None, None)).contains("credentials, an endpoint"));
        assert!(refused(parse(Some("ci"), None, None)).contains("both"));
        assert!(
            refused(parse(Some("ci"), Some("hunter2"), None)).contains("env:PALISADE_REGISTRY_")
        );
        assert!(refused(parse(None, None, Some("ftp://mirror"))).contains("https://host"));
        assert!(refused(parse(None, None, Some("https://mirror/v2/x"))).contains("/v2/"));
        assert!(refused(parse(None, None, Some("mirror.example"))).contains("not a URL"));
        assert!(refused(parse(None, None, Some("http://169.254.169.254"))).contains("link-local"));
        assert!(refused(RegistrySettings::parse(
            "docker.io/library",
            Some("ci"),
            Some("env:PALISADE_REGISTRY_X"),
            None,
            false,
            None,
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

    #[test]
    fn a_password_comes_only_from_what_the_deployment_set_aside() {
        for (reference, why) in [
            ("env:AWS_SECRET_ACCESS_KEY", "PALISADE_REGISTRY_"),
            ("env:PALISADE_REGISTRY_", "PALISADE_REGISTRY_"),
            ("env:palisade_registry_x", "PALISADE_REGISTRY_"),
            ("file:/etc/passwd", "inside PALISADE_SECRETS_DIR"),
            ("file:/root/.aws/credentials", "inside PALISADE_SECRETS_DIR"),
            ("file:/run/palisade-secrets/../../etc/shadow", "without .."),
            ("file:/run/palisade-secrets", "inside PALISADE_SECRETS_DIR"),
            (
                "file:/run/palisade-secrets-other/x",
                "inside PALISADE_SECRETS_DIR",
            ),
            ("file:relative/x", "inside PALISADE_SECRETS_DIR"),
        ] {
            let message = refused(parse(Some("ci"), Some(reference), None));
            assert!(message.contains(why), "{reference}: {message}");
        }
        let without_dir = RegistrySettings::parse(
            "registry.example",
            Some("ci"),
            Some("file:/run/palisade-secrets/x"),
            None,
            false,
            None,
        );
        assert!(refused(without_dir).contains("does not set"));
    }

    #[test]
    fn credentials_go_to_another_endpoint_only_when_confirmed() {
        let with_credentials = |confirmed| {
            RegistrySettings::parse(
                "registry.example",
                Some("ci"),
                Some("env:PALISADE_REGISTRY_CI"),
                Some("https://mirror.example"),
                confirmed,
                None,
            )
        };
        let message = refused(with_credentials(false));
        assert!(
            message
                .contains("the credentials of registry.example would go to https://mirror.example"),
            "{message}"
        );
        assert!(with_credentials(true).unwrap().credentials_to_endpoint);
        let ecr = |confirmed| {
            RegistrySettings::parse(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                None,
                None,
                Some("https://ecr-mirror.example"),
                confirmed,
                None,
            )
        };
        assert!(refused(ecr(false)).contains("the ECR login of"));
        assert!(ecr(true).is_ok());
        // Without credentials, a mirror of a public registry needs no confirmation.
        assert!(RegistrySettings::parse(
            "docker.io",
            None,
            None,
            Some("https://mirror.example"),
            false,
            None
        )
        .is_ok());
    }

    #[tokio::test]
    async fn a_password_file_is_read_bounded_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = std::fs::canonicalize(dir.path()).unwrap();
        let file = |name: &str| format!("file:{}", secrets.join(name).display());
        std::fs::write(secrets.join("registry"), "s3cret\n").unwrap();
        assert_eq!(
            read_password(&file("registry"), Some(&secrets)).await,
            Ok("s3cret".to_owned())
        );
        // A FIFO nobody writes to: refused at once, no thread waits on it.
        let fifo = secrets.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            read_password(&file("fifo"), Some(&secrets)),
        )
        .await
        .expect("a FIFO does not block the read");
        assert!(answer.unwrap_err().contains("not a regular file"));
        // A link inside the directory to /dev/zero, to a file outside it, or even to a file
        // inside it: not read.
        std::os::unix::fs::symlink("/dev/zero", secrets.join("zero")).unwrap();
        let answer = read_password(&file("zero"), Some(&secrets))
            .await
            .unwrap_err();
        assert!(answer.contains("symbolic link"), "{answer}");
        std::os::unix::fs::symlink("/etc/passwd", secrets.join("passwd")).unwrap();
        let answer = read_password(&file("passwd"), Some(&secrets))
            .await
            .unwrap_err();
        assert!(answer.contains("symbolic link"), "{answer}");
        std::os::unix::fs::symlink(secrets.join("registry"), secrets.join("alias")).unwrap();
        let answer = read_password(&file("alias"), Some(&secrets))
            .await
            .unwrap_err();
        assert!(answer.contains("symbolic link"), "{answer}");
        // A huge file: refused after reading its bound.
        std::fs::write(secrets.join("huge"), vec![b'x'; 1 << 20]).unwrap();
        let answer = read_password(&file("huge"), Some(&secrets))
            .await
            .unwrap_err();
        assert!(answer.contains("more than 64 KiB"), "{answer}");
        // A reference saved before the rules is checked again when read.
        let answer = read_password("env:HOME", Some(&secrets)).await.unwrap_err();
        assert!(answer.contains("PALISADE_REGISTRY_"), "{answer}");
        let answer = read_password("file:/etc/passwd", Some(&secrets))
            .await
            .unwrap_err();
        assert!(answer.contains("inside PALISADE_SECRETS_DIR"), "{answer}");
    }

    #[tokio::test]
    async fn a_directory_swapped_for_a_link_while_passwords_are_read_never_sends_another_file() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = std::fs::canonicalize(dir.path()).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("pw"), "OUTSIDE").unwrap();
        let sub = secrets.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("pw"), "inside").unwrap();
        let link = secrets.join("sub.link");
        std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();
        // The attacker swaps `sub` and a link to elsewhere, atomically, as fast as it can: at any
        // moment `sub/pw` is the password inside or a file outside.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, sub, link) = (stop.clone(), sub.clone(), link.clone());
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &sub,
                        rustix::fs::CWD,
                        &link,
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        let reference = format!("file:{}", sub.join("pw").display());
        let mut read = (0, 0);
        for _ in 0..300 {
            match read_password(&reference, Some(&secrets)).await {
                Ok(password) => {
                    assert_eq!(password, "inside", "a file outside was read");
                    read.0 += 1;
                }
                Err(_) => read.1 += 1,
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        eprintln!("{} read inside, {} refused, {swaps} swaps", read.0, read.1);
        assert!(
            read.0 > 0,
            "the password was read while `sub` was the directory"
        );
    }
}
