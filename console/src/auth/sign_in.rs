//! Signing in with a password, the one way every front end does it: the throttle charged before
//! the check (see [`super::throttle`]), Argon2 behind its gate, the session opened, the device
//! cookie renewed, and the audit entry written, whatever the outcome. An unknown user and a
//! wrong password get the same answer.

use super::keys::Purpose;
use super::sessions::{self, NewSession, SessionPolicy};
use super::throttle::Charged;
use super::users::{self, User};
use crate::clock::now_ms;
use crate::error::Error;
use crate::{Actor, Console};
use std::time::{Duration, Instant};

/// What a failed sign-in says, whatever the reason: an unknown user and a wrong password must not
/// be told apart.
pub const WRONG: &str = "unknown user or wrong password";

/// How long a device cookie is good for.
pub const DEVICE_LIFETIME: Duration = Duration::from_secs(365 * 86_400);

/// A password sign-in as it arrived.
pub struct PasswordSignIn<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// The client's address (after trusted proxies), for the throttle and the audit log.
    pub address: &'a str,
    /// The device cookie the browser sent, if any.
    pub device: Option<&'a str>,
}

/// A sign-in that succeeded: the account, its new session, and the device cookie to set.
pub struct SignedIn {
    pub user: User,
    pub session: NewSession,
    pub device: String,
}

/// Why a sign-in did not happen.
#[derive(Debug)]
pub enum SignInRefused {
    Wrong,
    /// Too many failures lately: try again after this.
    Throttled(Duration),
    /// The console is checking too many passwords at once: nothing was charged.
    Busy(Duration),
    Failed(Error),
}

impl SignInRefused {
    pub fn message(&self) -> String {
        match self {
            SignInRefused::Wrong => WRONG.to_owned(),
            SignInRefused::Throttled(wait) => format!(
                "too many failed sign-ins: try again in {} s",
                wait.as_secs().max(1)
            ),
            SignInRefused::Busy(_) => {
                "the console is checking many passwords at once: try again in a few seconds"
                    .to_owned()
            }
            SignInRefused::Failed(error) => error.public_message(),
        }
    }

    /// How long to wait before trying again, when waiting helps.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SignInRefused::Throttled(wait) | SignInRefused::Busy(wait) => Some(*wait),
            _ => None,
        }
    }
}

/// A device cookie's content: the account it signed in to, its own id, and when it expires.
struct Device {
    username: String,
    id: String,
}

/// Usernames are compared as stored (case included): `Admin` and `admin` are two accounts.
fn normalized(username: &str) -> String {
    username.trim().to_owned()
}

impl Console {
    /// The device `cookie` names, when this console signed it for `username` and it has not
    /// expired.
    async fn known_device(&self, cookie: Option<&str>, username: &str) -> Option<Device> {
        let keys = self.keys().await.ok()?;
        let payload = keys.verify(Purpose::Device, cookie?)?;
        let text = String::from_utf8(payload).ok()?;
        let mut parts = text.splitn(3, '|');
        let (id, expires, name) = (parts.next()?, parts.next()?, parts.next()?);
        let expires: i64 = expires.parse().ok()?;
        (expires > now_ms() && name == normalized(username)).then(|| Device {
            username: name.to_owned(),
            id: id.to_owned(),
        })
    }

    /// A device cookie for `username` (a new id each sign-in).
    async fn device_cookie(&self, username: &str) -> crate::Result<String> {
        let keys = self.keys().await?;
        let id = crate::text::random_hex(16)
            .map_err(|error| Error::internal("making a device cookie", error.to_string()))?;
        let expires = now_ms().saturating_add(crate::clock::millis(DEVICE_LIFETIME));
        let payload = format!("{id}|{expires}|{}", normalized(username));
        Ok(keys.sign(Purpose::Device, payload.as_bytes()))
    }

    /// Checks a password sign-in and opens a session; audited either way.
    pub async fn sign_in_with_password(
        &self,
        attempt: PasswordSignIn<'_>,
        policy: SessionPolicy,
    ) -> Result<SignedIn, SignInRefused> {
        let PasswordSignIn {
            username,
            password,
            address,
            device,
        } = attempt;
        // A name no account can have is wrong at once: no Argon2, no throttle entry (whose key
        // would otherwise be as long as the attacker likes).
        if users::check_username(username.trim()).is_err() {
            self.sign_in_failed(address, username, WRONG).await;
            return Err(SignInRefused::Wrong);
        }
        let known = self.known_device(device, username).await;
        let user = self
            .check_password(username, password, address, known.as_ref())
            .await?;
        let device = self
            .device_cookie(&known.map_or_else(|| user.username.clone(), |d| d.username))
            .await
            .map_err(SignInRefused::Failed)?;
        let (user, session) = self
            .open_session(user, address, policy)
            .await
            .map_err(SignInRefused::Failed)?;
        Ok(SignedIn {
            user,
            session,
            device,
        })
    }

    /// A failed password sign-in in the audit log, with why.
    async fn sign_in_failed(&self, address: &str, username: &str, reason: &str) {
        self.audit(
            &Actor::remote(None, address),
            "sign-in-failed",
            username,
            reason,
        )
        .await;
    }

    /// The password checked, the throttle charged first (the device `known` when the browser
    /// sent one, else the account) and told how the check ended.
    async fn check_password(
        &self,
        username: &str,
        password: &str,
        address: &str,
        known: Option<&Device>,
    ) -> Result<User, SignInRefused> {
        let charged = match known {
            Some(device) => Charged::Device(&device.id),
            None => Charged::Account(username),
        };
        let reservation = match self.throttle().reserve(charged, address, Instant::now()) {
            Ok(reservation) => reservation,
            Err(wait) => {
                self.sign_in_failed(address, username, "throttled").await;
                return Err(SignInRefused::Throttled(wait));
            }
        };
        match users::verify(self.db(), username, password).await {
            Ok(Some(user)) => {
                reservation.succeeded();
                Ok(user)
            }
            Ok(None) => {
                reservation.failed();
                self.sign_in_failed(address, username, WRONG).await;
                Err(SignInRefused::Wrong)
            }
            Err(Error::Busy { retry_after, .. }) => {
                reservation.not_checked();
                Err(SignInRefused::Busy(retry_after))
            }
            Err(error) => {
                reservation.not_checked();
                Err(SignInRefused::Failed(error))
            }
        }
    }

    /// The sign-in recorded on the account, its session opened and the audit entry written.
    async fn open_session(
        &self,
        user: User,
        address: &str,
        policy: SessionPolicy,
    ) -> crate::Result<(User, NewSession)> {
        // The sign-in's writes in one turn: under a flood of defender events each would
        // otherwise wait behind a transaction of its own.
        crate::db::in_one_turn(async {
            let mut user = user;
            user.last_sign_in_at = Some(users::record_sign_in(self.db(), user.id).await?);
            let session = sessions::open(self.db(), user.id, address, policy).await?;
            let actor = Actor::remote(Some(user.principal()), address);
            self.audit(&actor, "sign-in", "password", "ok").await;
            Ok((user, session))
        })
        .await
    }

    /// Signs in the person the identity provider vouched for (`identity`, with the role its
    /// claims give) and opens a session; audited either way. `refused` is the provider's or the
    /// exchange's reason when single sign-on failed before an identity was known.
    pub async fn sign_in_with_identity(
        &self,
        address: &str,
        identity: &users::SsoIdentity,
        role: super::Role,
        policy: SessionPolicy,
    ) -> crate::Result<(User, NewSession)> {
        let signed_in: crate::Result<(User, NewSession)> = crate::db::in_one_turn(async {
            let user = users::sign_in_sso(self.db(), identity, role).await?;
            let session = sessions::open(self.db(), user.id, address, policy).await?;
            Ok((user, session))
        })
        .await;
        match &signed_in {
            Ok((user, _)) => {
                let actor = Actor::remote(Some(user.principal()), address);
                self.audit(&actor, "sign-in", "single sign-on", "ok").await;
            }
            Err(error) => self.sign_on_refused(address, &error.public_message()).await,
        }
        signed_in
    }

    /// Records a single sign-on that failed, with its reason.
    pub async fn sign_on_refused(&self, address: &str, reason: &str) {
        let actor = Actor::remote(None, address);
        self.audit(&actor, "sign-in-failed", "single sign-on", reason)
            .await;
    }

    /// Ends the session behind `token` (a sign-out); audited.
    pub async fn sign_out(&self, actor: &Actor, token: &str) {
        if let Err(error) = sessions::end(self.db(), token).await {
            error.log("ending a session");
        }
        self.audit(actor, "sign-out", "", "ok").await;
    }
}
