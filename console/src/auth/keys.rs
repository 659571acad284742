//! The console's own secret and what it signs: 256 random bits made at first start and kept in the
//! database (every restart and every replica agree), a key per purpose derived from it (HMAC-SHA256
//! of the purpose's name), and values signed with one (`payload.tag`, both base64url) that a browser
//! carries and gives back: a device cookie, a single sign-on under way. A value signed for one
//! purpose never verifies for another.

use crate::clock::now_ms;
use crate::error::{Context, Error, Result};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::SqlitePool;

type HmacSha256 = Hmac<Sha256>;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What a signed value is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A browser that signed in to an account before ([`super::sign_in`]).
    Device,
    /// A single sign-on under way: state, PKCE verifier, nonce, where to go next.
    PendingSignOn,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Device => "device-cookie",
            Purpose::PendingSignOn => "pending-sign-on",
        }
    }
}

/// The console's secret, loaded once.
pub struct Keys {
    master: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// The console's secret, made now when the database has none (the first replica to write it
    /// wins; the others read the same).
    pub async fn load(db: &SqlitePool) -> Result<Keys> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|error| Error::internal("making the console's key", error.to_string()))?;
        let fresh = fresh.to_vec();
        let now = now_ms();
        sqlx::query!(
            "INSERT INTO console_keys (name, secret, created_at) VALUES ('master', ?, ?) ON CONFLICT (name) DO NOTHING",
            fresh,
            now
        )
        .execute(db)
        .await
        .context("making the console's key")?;
        let secret = sqlx::query_scalar!("SELECT secret FROM console_keys WHERE name = 'master'")
            .fetch_one(db)
            .await
            .context("reading the console's key")?;
        let master: [u8; 32] = secret
            .try_into()
            .map_err(|_| Error::internal("reading the console's key", "it is not 32 bytes"))?;
        Ok(Keys { master })
    }

    /// Keys from a given secret (tests).
    pub fn from_secret(master: [u8; 32]) -> Keys {
        Keys { master }
    }

    fn mac(&self, purpose: Purpose) -> HmacSha256 {
        let mut derive = HmacSha256::new_from_slice(&self.master).expect("HMAC takes any key");
        derive.update(b"palisade-key:");
        derive.update(purpose.name().as_bytes());
        let key = derive.finalize().into_bytes();
        HmacSha256::new_from_slice(&key).expect("HMAC takes any key")
    }

    /// `payload` signed for `purpose`: text safe in a cookie or a URL.
    pub fn sign(&self, purpose: Purpose, payload: &[u8]) -> String {
        let mut mac = self.mac(purpose);
        mac.update(payload);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(tag))
    }

    /// The payload of `signed` when it was signed for `purpose` by this console; `None` otherwise
    /// (forged, altered, another purpose, another console, or not a signed value at all).
    pub fn verify(&self, purpose: Purpose, signed: &str) -> Option<Vec<u8>> {
        let (payload, tag) = signed.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        let tag = B64.decode(tag).ok()?;
        let mut mac = self.mac(purpose);
        mac.update(&payload);
        // Constant-time comparison.
        mac.verify_slice(&tag).ok()?;
        Some(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_value_verifies_only_unaltered_for_its_purpose_and_console() {
        let keys = Keys::from_secret([7; 32]);
        let signed = keys.sign(Purpose::Device, b"alice|1234");
        assert_eq!(
            keys.verify(Purpose::Device, &signed).as_deref(),
            Some(&b"alice|1234"[..])
        );
        assert_eq!(keys.verify(Purpose::PendingSignOn, &signed), None);
        assert_eq!(
            Keys::from_secret([8; 32]).verify(Purpose::Device, &signed),
            None
        );
        let (payload, tag) = signed.split_once('.').unwrap();
        let altered = format!("{}.{tag}", B64.encode(b"admin|1234"));
        assert_eq!(keys.verify(Purpose::Device, &altered), None);
        assert_eq!(keys.verify(Purpose::Device, payload), None);
        assert_eq!(keys.verify(Purpose::Device, "not signed"), None);
    }

    #[tokio::test]
    async fn the_key_is_made_once_and_read_back() {
        let (_dir, db) = crate::testing::database().await;
        let first = Keys::load(&db).await.unwrap();
        let again = Keys::load(&db).await.unwrap();
        assert_eq!(first.master, again.master);
        assert_ne!(first.master, [0; 32]);
    }
}
