//! People: local accounts (a password, hashed with Argon2id off the async runtime) and single
//! sign-on users (no password here; their role comes from the identity provider at each sign-in).

use super::Role;
use crate::clock::{now_ms, UnixMs};
use crate::error::{Context, Error, Result};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::PasswordHasher;
use argon2::Argon2;
use sqlx::SqlitePool;

/// Shortest password a local account may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Where an account's identity comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A username and a password kept here.
    Local,
    /// An OpenID Connect provider.
    Oidc,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Oidc => "oidc",
        }
    }
}

/// An account as listed (never its password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// `local` or `oidc`.
    pub source: String,
    pub created_at: UnixMs,
    pub last_sign_in_at: Option<UnixMs>,
}

impl User {
    /// The principal this account signs in as.
    pub fn principal(&self) -> super::Principal {
        super::Principal {
            who: super::Who::User {
                id: self.id,
                username: self.username.clone(),
            },
            role: self.role,
        }
    }
}

struct UserRow {
    id: i64,
    username: String,
    role: String,
    source: String,
    created_at: i64,
    last_sign_in_at: Option<i64>,
}

impl UserRow {
    fn into_user(self) -> Result<User> {
        Ok(User {
            role: Role::parse(&self.role)
                .map_err(|error| Error::internal("reading a user", error.to_string()))?,
            id: self.id,
            username: self.username,
            source: self.source,
            created_at: self.created_at,
            last_sign_in_at: self.last_sign_in_at,
        })
    }
}

/// A username as the console accepts it: 1 to 64 letters, digits and `._@-` (an email works).
pub fn check_username(username: &str) -> Result<()> {
    let valid = (1..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "`{username}` is not a username: 1 to 64 letters, digits, '.', '_', '@' or '-'"
        )))
    }
}

/// A password good enough to keep: long, and not only spaces.
pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.trim().is_empty() {
        return Err(Error::invalid(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Argon2 computations at once. Each holds ~19 MiB (Argon2id's default memory cost) for tens of
/// milliseconds: unbounded, a hundred anonymous sign-ins at once took the console from 61 MB to
/// 1.9 GB.
const PASSWORD_CHECKS_AT_ONCE: usize = 2;
/// Computations that may wait for one of those; past them, refused at once (`Busy`), so a flood
/// costs neither memory nor a queue that grows.
const PASSWORD_CHECKS_WAITING: usize = 16;

type PasswordJob = Box<dyn FnOnce() + Send>;

/// The threads every Argon2 computation runs on: a few of their own, not the runtime's blocking
/// pool. The allocator keeps a freed 19 MiB block in the arena of the thread that freed it, and
/// the blocking pool has hundreds of threads: bounding only how many run at once still left
/// 300 MB behind after a flood. Two threads keep at most two such blocks.
fn password_workers() -> &'static std::sync::mpsc::SyncSender<PasswordJob> {
    static WORKERS: std::sync::OnceLock<std::sync::mpsc::SyncSender<PasswordJob>> =
        std::sync::OnceLock::new();
    WORKERS.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<PasswordJob>(PASSWORD_CHECKS_WAITING);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..PASSWORD_CHECKS_AT_ONCE {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("palisade-argon2-{n}"))
                .spawn(move || loop {
                    let job = crate::lock(&queue).recv();
                    match job {
                        // A job that panics loses its answer (its caller gets an internal
                        // error), never the thread.
                        Ok(job) => {
                            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err()
                            {
                                tracing::error!("a password check panicked");
                            }
                        }
                        Err(_) => return,
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "starting a password-checking thread failed");
            }
        }
        jobs
    })
}

/// Runs `work` (an Argon2 computation) on the password threads; `Busy` at once when too many
/// already wait.
async fn password_work<T: Send + 'static>(
    doing: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: PasswordJob = Box::new(move || {
        let _ = answer.send(work());
    });
    match password_workers().try_send(job) {
        Ok(()) => {}
        Err(std::sync::mpsc::TrySendError::Full(_)) => {
            return Err(Error::busy(
                "the console is checking many passwords at once: try again in a few seconds",
                std::time::Duration::from_secs(2),
            ))
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
            return Err(Error::internal(doing, "the password threads are gone"))
        }
    }
    answered
        .await
        .map_err(|_| Error::internal(doing, "a password thread stopped"))
}

/// The Argon2id PHC string of `password`, computed off the async runtime (tens of milliseconds).
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    password_work("hashing a password", move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| Error::internal("hashing a password", error.to_string()))
    })
    .await?
}

/// Whether `password` matches `hash` (on the password threads). A hash that does not parse
/// matches nothing.
async fn password_matches(password: &str, hash: String) -> Result<bool> {
    let password = password.to_owned();
    password_work("checking a password", move || {
        matches_reusing_memory(password.as_bytes(), &hash)
    })
    .await
}

/// The most Argon2 memory a stored hash may ask for (256 MiB; the default is 19 MiB): a hash
/// written by hand into the database must not make a sign-in allocate without bound.
const MAX_ARGON2_BLOCKS: usize = 256 * 1024;

std::thread_local! {
    /// Each password thread's Argon2 memory, allocated once and reused: allocating and freeing
    /// ~19 MiB per check left the allocator holding hundreds of MB after a flood.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`PasswordVerifier::verify_password`], computed in this thread's reused memory.
fn matches_reusing_memory(password: &[u8], hash: &str) -> bool {
    use argon2::password_hash::phc::Output;
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        tracing::warn!(
            blocks,
            "a stored password hash asks for more memory than allowed"
        );
        return false;
    }
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    ARGON2_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon2
            .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
            .is_ok()
    }) && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// A hash nobody's password matches, verified when the username is unknown so that an unknown
/// user and a wrong password take the same time.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2CmrIZGO6yf/mRkA2kPDlpcgG8ZhQcE7tkJ9UqJ/B0E";

/// A new local account.
#[tracing::instrument(skip(db, password))]
pub async fn create(db: &SqlitePool, username: &str, password: &str, role: Role) -> Result<User> {
    let username = username.trim();
    check_username(username)?;
    check_password(password)?;
    let hash = hash_password(password).await?;
    insert(db, username, Some(&hash), role, Source::Local).await
}

async fn insert(
    db: &SqlitePool,
    username: &str,
    hash: Option<&str>,
    role: Role,
    source: Source,
) -> Result<User> {
    let now = now_ms();
    let (role_name, source_name) = (role.as_str(), source.as_str());
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO users (username, password_hash, role, source, created_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (username) DO NOTHING RETURNING id AS "id!""#,
        username,
        hash,
        role_name,
        source_name,
        now
    )
    .fetch_optional(db)
    .await
    .context("adding a user")?;
    let Some(id) = inserted else {
        return Err(Error::Conflict(format!("user `{username}` already exists")));
    };
    Ok(User {
        id,
        username: username.to_owned(),
        role,
        source: source_name.to_owned(),
        created_at: now,
        last_sign_in_at: None,
    })
}

/// The local account `username` when `password` is its password; `None` for an unknown user, a
/// single sign-on user, or a wrong password alike (the caller says one thing for all of them).
/// Reads only: the caller records the sign-in ([`record_sign_in`]).
#[tracing::instrument(skip(db, password))]
pub async fn verify(db: &SqlitePool, username: &str, password: &str) -> Result<Option<User>> {
    let username = username.trim();
    let row = sqlx::query!(
        r#"SELECT id AS "id!", username, password_hash, role, source, created_at, last_sign_in_at
           FROM users WHERE username = ?"#,
        username
    )
    .fetch_optional(db)
    .await
    .context("checking a password")?;
    let (hash, known) = match row.as_ref().and_then(|row| row.password_hash.clone()) {
        Some(hash) => (hash, true),
        None => (DECOY_HASH.to_owned(), false),
    };
    let matches = password_matches(password, hash).await?;
    let (Some(row), true, true) = (row, known, matches) else {
        return Ok(None);
    };
    UserRow {
        id: row.id,
        username: row.username,
        role: row.role,
        source: row.source,
        created_at: row.created_at,
        last_sign_in_at: row.last_sign_in_at,
    }
    .into_user()
    .map(Some)
}

/// Notes that user `id` signed in now (answers when).
pub async fn record_sign_in(db: &SqlitePool, id: i64) -> Result<UnixMs> {
    let now = now_ms();
    let _turn = crate::db::write_turn().await;
    sqlx::query!("UPDATE users SET last_sign_in_at = ? WHERE id = ?", now, id)
        .execute(db)
        .await
        .context("recording a sign-in")?;
    Ok(now)
}

/// Who a single sign-on names: the provider (`iss`), its user (`sub`), and the name to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoIdentity {
    pub issuer: String,
    pub subject: String,
    pub username: String,
}

/// A single sign-on user, created at their first sign-in and found again by their identity
/// (issuer and subject, never the name alone); their role follows the identity provider's
/// claims at every sign-in. A local account, or another identity's account, of the same name is
/// never taken over.
#[tracing::instrument(skip(db))]
pub async fn sign_in_sso(db: &SqlitePool, identity: &SsoIdentity, role: Role) -> Result<User> {
    let SsoIdentity {
        issuer,
        subject,
        username,
    } = identity;
    check_username(username)?;
    let now = now_ms();
    let role_name = role.as_str();
    let found = sqlx::query!(
        r#"UPDATE users SET role = ?, last_sign_in_at = ? WHERE source = 'oidc' AND oidc_issuer = ? AND oidc_subject = ?
           RETURNING id AS "id!", username, created_at"#,
        role_name,
        now,
        issuer,
        subject
    )
    .fetch_optional(db)
    .await
    .context("recording a sign-in")?;
    // An account single sign-on made before identities were kept is never bound by its name
    // alone: whoever at the provider picked that name first would take it over for good. An
    // admin removes it; the person's next sign-in makes it again, bound to them.
    let found = found.map(|row| (row.id, row.username, row.created_at));
    if let Some((id, username, created_at)) = found {
        return Ok(User {
            id,
            username,
            role,
            source: Source::Oidc.as_str().to_owned(),
            created_at,
            last_sign_in_at: Some(now),
        });
    }
    let source_name = Source::Oidc.as_str();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO users (username, password_hash, role, source, created_at, last_sign_in_at, oidc_issuer, oidc_subject)
           VALUES (?, NULL, ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING id AS "id!""#,
        username,
        role_name,
        source_name,
        now,
        now,
        issuer,
        subject
    )
    .fetch_optional(db)
    .await
    .context("adding a user")?
    .ok_or_else(|| {
        Error::Conflict(format!(
            "`{username}` is already the name of another account here (a local account, another single sign-on identity, or a single sign-on account from before identities were kept): an admin can remove that account, or the provider can give this user another name"
        ))
    })?;
    Ok(User {
        id,
        username: username.clone(),
        role,
        source: source_name.to_owned(),
        created_at: now,
        last_sign_in_at: Some(now),
    })
}

/// A new password for a local account; its sessions end.
#[tracing::instrument(skip(db, password))]
pub async fn set_password(db: &SqlitePool, username: &str, password: &str) -> Result<()> {
    check_password(password)?;
    let hash = hash_password(password).await?;
    let id = sqlx::query_scalar!(
        r#"UPDATE users SET password_hash = ? WHERE username = ? AND source = 'local' RETURNING id AS "id!""#,
        hash,
        username
    )
    .fetch_optional(db)
    .await
    .context("changing a password")?
    .ok_or_else(|| Error::NotFound(format!("no local account `{username}`")))?;
    super::sessions::end_all_of(db, id).await
}

/// A new role for an account; the last admin keeps theirs. Open sessions have the new role from
/// their next request.
#[tracing::instrument(skip(db))]
pub async fn set_role(db: &SqlitePool, username: &str, role: Role) -> Result<()> {
    // Read, check, write under one write lock: two demotions could otherwise each see two admins.
    let mut transaction = crate::db::begin_write(db, "changing a role").await?;
    let current = sqlx::query_scalar!("SELECT role FROM users WHERE username = ?", username)
        .fetch_optional(&mut *transaction)
        .await
        .context("changing a role")?
        .ok_or_else(|| Error::NotFound(format!("no user `{username}`")))?;
    let admins = admin_count(&mut transaction, "changing a role").await?;
    if current == Role::Admin.as_str() && role != Role::Admin && admins <= 1 {
        return Err(Error::Conflict(format!(
            "`{username}` is the last admin: make another admin first"
        )));
    }
    let role_name = role.as_str();
    sqlx::query!(
        "UPDATE users SET role = ? WHERE username = ?",
        role_name,
        username
    )
    .execute(&mut *transaction)
    .await
    .context("changing a role")?;
    transaction.commit().await.context("changing a role")
}

/// How many admins there are, inside the transaction that is about to change one.
async fn admin_count(
    transaction: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    context: &'static str,
) -> Result<i64> {
    sqlx::query_scalar!(r#"SELECT COUNT(*) AS "count!: i64" FROM users WHERE role = 'admin'"#)
        .fetch_one(&mut **transaction)
        .await
        .context(context)
}

/// Removes an account (its sessions end with it). The last admin stays: someone must be able to
/// manage the console.
#[tracing::instrument(skip(db))]
pub async fn remove(db: &SqlitePool, username: &str) -> Result<()> {
    // Under one write lock, as in `set_role`.
    let mut transaction = crate::db::begin_write(db, "removing a user").await?;
    let user = sqlx::query!(
        r#"SELECT id AS "id!", role FROM users WHERE username = ?"#,
        username
    )
    .fetch_optional(&mut *transaction)
    .await
    .context("removing a user")?
    .ok_or_else(|| Error::NotFound(format!("no user `{username}`")))?;
    let admins = admin_count(&mut transaction, "removing a user").await?;
    if user.role == Role::Admin.as_str() && admins <= 1 {
        return Err(Error::Conflict(format!(
            "`{username}` is the last admin: add another admin first"
        )));
    }
    sqlx::query!("DELETE FROM users WHERE id = ?", user.id)
        .execute(&mut *transaction)
        .await
        .context("removing a user")?;
    transaction.commit().await.context("removing a user")
}

/// Every account, by name.
pub async fn list(db: &SqlitePool) -> Result<Vec<User>> {
    let rows = sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id!", username, role, source, created_at, last_sign_in_at FROM users ORDER BY username"#
    )
    .fetch_all(db)
    .await
    .context("listing the users")?;
    rows.into_iter().map(UserRow::into_user).collect()
}

/// At the first start (no account at all), the `admin` account: with `password` when given, or a
/// generated one, answered so it can be shown once.
pub async fn ensure_first_admin(db: &SqlitePool, password: Option<&str>) -> Result<Option<String>> {
    let count = sqlx::query_scalar!(r#"SELECT COUNT(*) AS "count!: i64" FROM users"#)
        .fetch_one(db)
        .await
        .context("counting the users")?;
    if count > 0 {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(password) => (password.to_owned(), None),
        None => {
            let password = crate::text::random_hex(12)
                .map_err(|error| Error::internal("making a password", error.to_string()))?;
            (password.clone(), Some(password))
        }
    };
    create(db, "admin", &password, Role::Admin).await?;
    Ok(generated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_hash_costs_what_a_real_one_does() {
        let decoy = PasswordHash::new(DECOY_HASH).unwrap();
        let real_hash = Argon2::default().hash_password(b"x").unwrap().to_string();
        let real = PasswordHash::new(&real_hash).unwrap();
        assert_eq!(decoy.algorithm, real.algorithm);
        assert_eq!(decoy.params.to_string(), real.params.to_string());
    }

    #[tokio::test]
    async fn a_password_signs_in_and_nothing_else_does() {
        let (_dir, db) = crate::testing::database().await;
        let generated = ensure_first_admin(&db, None).await.unwrap().unwrap();
        assert_eq!(generated.len(), 24);
        assert_eq!(
            ensure_first_admin(&db, None).await.unwrap(),
            None,
            "only once"
        );
        let admin = verify(&db, "admin", &generated).await.unwrap().unwrap();
        assert_eq!(admin.role, Role::Admin);
        // Checking reads only; the sign-in is recorded by its caller.
        assert!(admin.last_sign_in_at.is_none());
        record_sign_in(&db, admin.id).await.unwrap();
        let again = verify(&db, "admin", &generated).await.unwrap().unwrap();
        assert!(again.last_sign_in_at.is_some());
        assert_eq!(verify(&db, "admin", "wrong password!").await.unwrap(), None);
        assert_eq!(verify(&db, "nobody", &generated).await.unwrap(), None);

        create(
            &db,
            "ops@example.com",
            "correct horse battery",
            Role::Operator,
        )
        .await
        .unwrap();
        assert!(matches!(
            create(
                &db,
                "ops@example.com",
                "correct horse battery",
                Role::Viewer
            )
            .await,
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            create(&db, "short", "too short", Role::Viewer).await,
            Err(Error::Invalid { .. })
        ));
        assert!(
            create(&db, "bad name", "correct horse battery", Role::Viewer)
                .await
                .is_err()
        );
        let stored: String = sqlx::query_scalar(
            "SELECT password_hash FROM users WHERE username = 'ops@example.com'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));

        set_password(&db, "ops@example.com", "another long password")
            .await
            .unwrap();
        assert_eq!(
            verify(&db, "ops@example.com", "correct horse battery")
                .await
                .unwrap(),
            None
        );
        assert!(verify(&db, "ops@example.com", "another long password")
            .await
            .unwrap()
            .is_some());

        // The last admin stays; others go.
        assert!(matches!(
            remove(&db, "admin").await,
            Err(Error::Conflict(_))
        ));
        remove(&db, "ops@example.com").await.unwrap();
        assert_eq!(
            list(&db)
                .await
                .unwrap()
                .iter()
                .map(|u| u.username.as_str())
                .collect::<Vec<_>>(),
            ["admin"]
        );
    }

    fn identity(subject: &str, username: &str) -> SsoIdentity {
        SsoIdentity {
            issuer: "https://idp.example".into(),
            subject: subject.into(),
            username: username.into(),
        }
    }

    #[tokio::test]
    async fn single_sign_on_users_follow_their_claims_and_never_take_over_a_local_account() {
        let (_dir, db) = crate::testing::database().await;
        let alice = identity("1001", "alice@example.com");
        let first = sign_in_sso(&db, &alice, Role::Viewer).await.unwrap();
        let again = sign_in_sso(&db, &alice, Role::Operator).await.unwrap();
        assert_eq!((first.id, again.role), (again.id, Role::Operator));
        // No password: a password sign-in as them fails.
        assert_eq!(verify(&db, "alice@example.com", "").await.unwrap(), None);
        create(&db, "bob", "correct horse battery", Role::Admin)
            .await
            .unwrap();
        assert!(matches!(
            sign_in_sso(&db, &identity("2002", "bob"), Role::Admin).await,
            Err(Error::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn a_single_sign_on_account_is_its_identity_not_its_name() {
        let (_dir, db) = crate::testing::database().await;
        let alice = sign_in_sso(&db, &identity("1001", "alice"), Role::Admin)
            .await
            .unwrap();
        // Another user of the provider who picked the same preferred_username is not alice.
        let impostor = sign_in_sso(&db, &identity("6666", "alice"), Role::Viewer).await;
        assert!(matches!(impostor, Err(Error::Conflict(_))), "{impostor:?}");
        // Nor is the same subject at another provider.
        let elsewhere = SsoIdentity {
            issuer: "https://other-idp.example".into(),
            ..identity("1001", "alice")
        };
        assert!(matches!(
            sign_in_sso(&db, &elsewhere, Role::Viewer).await,
            Err(Error::Conflict(_))
        ));
        // Alice renamed at the provider is still alice, under the name she had here.
        let renamed = sign_in_sso(&db, &identity("1001", "alice.smith"), Role::Admin)
            .await
            .unwrap();
        assert_eq!((renamed.id, renamed.username.as_str()), (alice.id, "alice"));
    }
}
