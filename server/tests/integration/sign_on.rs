//! Single sign-on end to end against an OpenID Connect provider on loopback
//! (`palisade_test_support::oidc`), with the browser played by hand (cookies carried, redirects
//! followed): a person signs in; `next` goes only to paths of this console; starting sign-ins
//! keeps nothing on the server, so a flood of them stops nobody; a callback needs the cookie its
//! browser got; accounts are identities, not names; the provider's answers are bounded and never
//! send the console to the metadata service.

use crate::common::hostile::Answer;
use crate::common::Console;
use palisade_console::auth::Role;
use palisade_server::config::OidcConfig;
use palisade_test_support::oidc::{Person, Provider};
use serde_json::{json, Value};
use std::path::Path;

fn person(subject: &str, username: &str, groups: &[&str]) -> Person {
    Person {
        subject: subject.into(),
        claims: json!({ "preferred_username": username, "groups": groups }),
    }
}

async fn console_for(dir: &Path, provider: &Provider) -> Console {
    let secret = dir.join("client-secret");
    std::fs::write(&secret, &provider.client_secret).unwrap();
    let oidc = OidcConfig {
        issuer: provider.issuer.clone(),
        client_id: provider.client_id.clone(),
        client_secret_ref: format!("file:{}", secret.display()),
        role_claim: "groups".into(),
        roles: vec![("sre".into(), Role::Operator), ("*".into(), Role::Viewer)],
        username_claim: "preferred_username".into(),
        scopes: vec!["openid".into()],
    };
    Console::start_with(&dir.join("palisade.db"), move |config| {
        config.public_url = Some("http://localhost:3000".parse().unwrap());
        config.oidc = Some(oidc);
    })
    .await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the `Set-Cookie` headers of `response` whose name ends with `name`.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().to_owned())
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(key, value)| key.ends_with(name) && !value.is_empty())
        })
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// What a browser ends with after a sign-on: the callback's status and body, and the session
/// cookie when one was set.
struct Outcome {
    status: u16,
    page: String,
    session: Option<String>,
}

/// Starts a sign-on at `console` (with `next`), lets the provider sign its person in, and comes
/// back to the callback with `sign_on_cookie` (the one the start set, unless the test swaps it).
async fn sign_on_with(
    console: &Console,
    next: &str,
    swap_cookie: impl FnOnce(String) -> String,
) -> Outcome {
    let browser = client();
    let started = browser
        .get(format!("{}/auth/oidc/start", console.base))
        .query(&[("next", next)])
        .send()
        .await
        .unwrap();
    assert!(started.status().is_redirection(), "{}", started.status());
    let sign_on = cookie(&started, "palisade_sign_on").expect("the start sets its cookie");
    let at_provider = browser.get(location(&started)).send().await.unwrap();
    assert_eq!(at_provider.status(), 302);
    // The provider sends the browser to the public URL's callback: here, this console.
    let back = url::Url::parse(&location(&at_provider)).unwrap();
    let callback = format!(
        "{}{}?{}",
        console.base,
        back.path(),
        back.query().unwrap_or_default()
    );
    let answered = browser
        .get(callback)
        .header("cookie", swap_cookie(sign_on))
        .send()
        .await
        .unwrap();
    let session = cookie(&answered, "palisade_session");
    let status = answered.status().as_u16();
    let page = answered.text().await.unwrap();
    Outcome {
        status,
        page,
        session,
    }
}

async fn sign_on(console: &Console, next: &str) -> Outcome {
    sign_on_with(console, next, |cookie| cookie).await
}

/// Who the session cookie signs in as.
async fn whoami(console: &Console, session: &str) -> Value {
    client()
        .get(format!("{}/api/v1/session", console.base))
        .header("cookie", session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_person_signs_on_and_next_goes_only_to_paths_of_this_console() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::start(person("1001", "alice", &["sre"]));
    let console = console_for(dir.path(), &provider).await;

    let signed_on = sign_on(&console, "/defenders?status=connected").await;
    assert_eq!(signed_on.status, 200, "{}", signed_on.page);
    assert!(
        signed_on.page.contains("url=/defenders?status=connected"),
        "{}",
        signed_on.page
    );
    let me = whoami(&console, &signed_on.session.unwrap()).await;
    assert_eq!(me, json!({"name": "alice", "role": "operator"}));

    // A tab or a newline after the first slash is a second slash to the browser: refused.
    for elsewhere in [
        "/\t/evil.example/path",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
    ] {
        let signed_on = sign_on(&console, elsewhere).await;
        assert_eq!(signed_on.status, 200);
        assert!(
            signed_on.page.contains("url=/\"") && !signed_on.page.contains("evil"),
            "{elsewhere:?}: {}",
            signed_on.page
        );
    }
    console.stop().await;
}

#[tokio::test]
async fn ten_thousand_anonymous_starts_keep_nothing_and_stop_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::start(person("1001", "alice", &[]));
    let console = console_for(dir.path(), &provider).await;
    let browser = client();
    let start = format!("{}/auth/oidc/start", console.base);
    let starts = (0..10_000).map(|_| {
        let (browser, start) = (browser.clone(), start.clone());
        async move {
            browser
                .get(start)
                .send()
                .await
                .map(|response| response.status().as_u16())
                .unwrap_or(0)
        }
    });
    let statuses: Vec<u16> = futures::stream::iter(starts)
        .buffer_unordered(32)
        .collect()
        .await;
    let refused = statuses.iter().filter(|status| **status != 303).count();
    assert_eq!(
        refused, 0,
        "every start is answered with the way to the provider"
    );
    // The real person signs in right after.
    let signed_on = sign_on(&console, "/").await;
    assert_eq!(signed_on.status, 200, "{}", signed_on.page);
    assert!(signed_on.session.is_some());
    console.stop().await;
}

use futures::StreamExt;

#[tokio::test]
async fn a_callback_needs_the_cookie_its_own_browser_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::start(person("1001", "alice", &[]));
    let console = console_for(dir.path(), &provider).await;
    // No cookie (login CSRF: an attacker's callback URL opened in the victim's browser).
    let forged = sign_on_with(&console, "/", |_| String::new()).await;
    assert!(forged.session.is_none());
    // A cookie altered by hand, or another sign-on's cookie, is not this one.
    let altered = sign_on_with(&console, "/", |cookie| {
        let (name, value) = cookie.split_once('=').unwrap();
        format!("{name}={}", value.replacen('e', "f", 1))
    })
    .await;
    assert!(altered.session.is_none());
    let browser = client();
    let other = browser
        .get(format!("{}/auth/oidc/start", console.base))
        .send()
        .await
        .unwrap();
    let other_cookie = cookie(&other, "palisade_sign_on").unwrap();
    let crossed = sign_on_with(&console, "/", |_| other_cookie).await;
    assert!(crossed.session.is_none(), "another sign-on's state");
    console.stop().await;
}

#[tokio::test]
async fn an_account_is_the_providers_identity_not_a_name_its_users_choose() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::start(person("1001", "alice", &["sre"]));
    let console = console_for(dir.path(), &provider).await;
    let alice = sign_on(&console, "/").await;
    assert!(alice.session.is_some());
    // Another user of the provider sets preferred_username to "alice".
    provider.sign_in_as(person("6666", "alice", &["sre"]));
    let impostor = sign_on(&console, "/").await;
    assert!(impostor.session.is_none(), "{}", impostor.page);
    // An email the provider has not verified is never a name here either.
    provider.sign_in_as(Person {
        subject: "7777".into(),
        claims: json!({"email": "admin@example.com", "email_verified": false}),
    });
    let unverified = sign_on(&console, "/").await;
    let me = whoami(&console, &unverified.session.unwrap()).await;
    assert_eq!(
        me["name"], "7777",
        "named by its subject, not the unverified email"
    );
    console.stop().await;
}

#[tokio::test]
async fn the_providers_answers_are_bounded_and_never_send_the_console_to_the_metadata_service() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::start(person("1001", "alice", &[]));
    // Keys on the metadata service's address.
    provider.set_jwks_uri("http://169.254.169.254/latest/meta-data/iam/security-credentials/");
    let console = console_for(dir.path(), &provider).await;
    let refused = sign_on_start_error(&console).await;
    assert!(
        refused.contains("cannot be reached"),
        "discovery with link-local keys fails: {refused}"
    );

    // Real keys padded to 4 MiB (no Content-Length): a provider would never answer that much,
    // so it is cut at 256 KiB and refused, not read to the end and believed.
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::start(person("1001", "alice", &[]));
    let keys = client()
        .get(format!("{}/jwks", provider.issuer))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut padded = keys.to_vec();
    padded.extend(std::iter::repeat_n(b' ', 4 << 20));
    provider.set_jwks_body(Answer::new(200).body(padded).unannounced());
    let console = console_for(dir.path(), &provider).await;
    let refused = sign_on_start_error(&console).await;
    assert!(refused.contains("cannot be reached"), "{refused}");
    console.stop().await;
}

/// The error a sign-on start sends the browser back with.
async fn sign_on_start_error(console: &Console) -> String {
    let started = client()
        .get(format!("{}/auth/oidc/start", console.base))
        .send()
        .await
        .unwrap();
    let back = location(&started);
    assert!(back.starts_with("/sign-in?error="), "{back}");
    url::form_urlencoded::parse(back.split_once('?').unwrap().1.as_bytes())
        .find(|(key, _)| key == "error")
        .map(|(_, value)| value.into_owned())
        .unwrap()
}
