//! An OpenID Connect provider on loopback, for the single sign-on tests: discovery, keys (one
//! Ed25519 key, `EdDSA`), an authorization endpoint that signs in whoever the test says at once
//! (no login page) and sends the browser back with a code, and a token endpoint that checks the
//! client's secret and the PKCE verifier and answers a signed ID token. What it answers can be
//! made hostile (`Provider::set_jwks_uri`, `Provider::set_jwks_body`) to try the console's
//! client.

use crate::hostile::{Answer, Hostile, Seen};
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use sha2::Digest;
use std::sync::{Arc, Mutex};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Who the provider signs in next, with which extra claims.
#[derive(Clone, Debug)]
pub struct Person {
    pub subject: String,
    /// Claims added to the ID token (`preferred_username`, `groups`, `email`...).
    pub claims: Value,
}

struct State {
    person: Person,
    /// Replaces the discovery document's `jwks_uri` when set.
    jwks_uri: Option<String>,
    /// Replaces the keys' answer when set.
    jwks_body: Option<Answer>,
}

/// The provider: its issuer URL and what it was asked.
pub struct Provider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    state: Arc<Mutex<State>>,
    server: Hostile,
}

fn query(line: &str) -> Vec<(String, String)> {
    let target = line.split(' ').nth(1).unwrap_or_default();
    let query = target.split_once('?').map(|(_, query)| query).unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn field(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

fn json_answer(value: &Value) -> Answer {
    Answer::new(200)
        .header("Content-Type", "application/json")
        .body(value.to_string())
}

/// The discovery document.
fn discovery(issuer: &str, state: &State) -> Answer {
    json_answer(&json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": state.jwks_uri.clone().unwrap_or_else(|| format!("{issuer}/jwks")),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
    }))
}

/// The signing key, or the answer a test put in its place.
fn jwks(state: &State, key: &SigningKey) -> Answer {
    match &state.jwks_body {
        Some(answer) => Answer {
            status: answer.status,
            headers: answer.headers.clone(),
            body: answer.body.clone(),
            announce_length: answer.announce_length,
        },
        None => json_answer(&json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": B64.encode(key.verifying_key().as_bytes()),
            "use": "sig", "alg": "EdDSA", "kid": "test-1"
        }]})),
    }
}

/// Signs the person in at once: back to the client with a code.
fn authorize(seen: &Seen, state: &State) -> Answer {
    let asked = query(&seen.line);
    // The code carries what the token endpoint must check and say.
    let code = B64.encode(
        json!({
            "nonce": field(&asked, "nonce"),
            "challenge": field(&asked, "code_challenge"),
            "subject": state.person.subject,
            "claims": state.person.claims,
        })
        .to_string(),
    );
    let back = format!(
        "{}?code={code}&state={}",
        field(&asked, "redirect_uri"),
        field(&asked, "state")
    );
    Answer::new(302).header("Location", &back)
}

/// The code exchanged for a signed ID token, once the client's secret and PKCE check out.
fn token(
    seen: &Seen,
    issuer: &str,
    (client_id, client_secret): &(String, String),
    key: &SigningKey,
) -> Answer {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&seen.body)
        .into_owned()
        .collect();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"))
    );
    if seen.header("authorization") != Some(basic.as_str()) {
        return json_answer(&json!({"error": "invalid_client"})).status(401);
    }
    let Some(code) = B64
        .decode(field(&form, "code"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    else {
        return json_answer(&json!({"error": "invalid_grant"})).status(400);
    };
    let verifier = field(&form, "code_verifier");
    let challenge = B64.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if code["challenge"] != challenge {
        return json_answer(&json!({"error": "invalid_grant", "error_description": "PKCE"}))
            .status(400);
    }
    let id_token = id_token(issuer, client_id, &code, key);
    json_answer(&json!({
        "access_token": "access", "token_type": "Bearer", "expires_in": 300,
        "id_token": id_token,
    }))
}

/// An EdDSA-signed ID token for the code's subject, nonce and claims.
fn id_token(issuer: &str, client_id: &str, code: &Value, key: &SigningKey) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({
        "iss": issuer, "sub": code["subject"], "aud": client_id,
        "iat": now, "exp": now + 300, "nonce": code["nonce"],
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), code["claims"].as_object()) {
        claims.extend(extra.clone());
    }
    let header = B64.encode(json!({"alg": "EdDSA", "typ": "JWT", "kid": "test-1"}).to_string());
    let payload = B64.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let signature = B64.encode(key.sign(signed.as_bytes()).to_bytes());
    format!("{signed}.{signature}")
}

impl Provider {
    /// A provider for client `palisade` with secret `s3cret`, signing in `person`.
    pub fn start(person: Person) -> Provider {
        let key = Arc::new(SigningKey::from_bytes(&[42u8; 32]));
        let state = Arc::new(Mutex::new(State {
            person,
            jwks_uri: None,
            jwks_body: None,
        }));
        let issuer = Arc::new(Mutex::new(String::new()));
        let (client_id, client_secret) = ("palisade".to_owned(), "s3cret".to_owned());
        let answers = {
            let (state, issuer) = (state.clone(), issuer.clone());
            let client = (client_id.clone(), client_secret.clone());
            move |seen: &Seen| {
                let issuer = issuer.lock().unwrap().clone();
                let path = seen.line.split(' ').nth(1).unwrap_or_default();
                let path = path.split('?').next().unwrap_or_default();
                let state = state.lock().unwrap();
                match path {
                    "/.well-known/openid-configuration" => discovery(&issuer, &state),
                    "/jwks" => jwks(&state, &key),
                    "/authorize" => authorize(seen, &state),
                    "/token" => token(seen, &issuer, &client, &key),
                    _ => Answer::new(404),
                }
            }
        };
        let server = Hostile::start(answers);
        let base = format!("http://{}", server.host);
        *issuer.lock().unwrap() = base.clone();
        Provider {
            issuer: base,
            client_id,
            client_secret,
            state,
            server,
        }
    }

    /// Who signs in next.
    pub fn sign_in_as(&self, person: Person) {
        self.state.lock().unwrap().person = person;
    }

    /// The discovery document names these keys instead of its own.
    pub fn set_jwks_uri(&self, uri: &str) {
        self.state.lock().unwrap().jwks_uri = Some(uri.to_owned());
    }

    /// The keys' endpoint answers this instead.
    pub fn set_jwks_body(&self, answer: Answer) {
        self.state.lock().unwrap().jwks_body = Some(answer);
    }

    /// Every request the provider got.
    pub fn seen(&self) -> Vec<Seen> {
        self.server.seen()
    }
}

trait WithStatus {
    fn status(self, status: u16) -> Self;
}

impl WithStatus for Answer {
    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}
