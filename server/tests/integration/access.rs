//! Who may call what, against a real console: every route of the people's listener with nobody
//! signed in and with each role, sessions and their cookie, the cross-site and Host checks, the
//! headers, pipeline tokens, the audit log, and the defenders' listener serving nothing but the
//! channel.

use crate::common::{client_with, Api, Console};
use palisade_console::auth::{users, Role};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The least role each route needs, written out here independently of the console's table, so
/// that changing either one alone fails this test: `None` is public.
const EXPECTED: &[(&str, &str, Option<Role>)] = &[
    ("GET", "/api/v1/health", None),
    ("GET", "/api/v1/openapi.json", Some(Role::Viewer)),
    ("GET", "/api/v1/session", Some(Role::Viewer)),
    ("POST", "/api/v1/session", None),
    ("DELETE", "/api/v1/session", None),
    ("POST", "/api/v1/protect", Some(Role::Operator)),
    ("POST", "/api/v1/unprotect", Some(Role::Operator)),
    ("GET", "/api/v1/generations", Some(Role::Viewer)),
    ("GET", "/api/v1/generations/{id}", Some(Role::Operator)),
    ("GET", "/api/v1/registrations", Some(Role::Viewer)),
    ("POST", "/api/v1/registrations", Some(Role::Operator)),
    ("GET", "/api/v1/settings/ecs", Some(Role::Admin)),
    ("PUT", "/api/v1/settings/ecs", Some(Role::Admin)),
    ("GET", "/api/v1/registries", Some(Role::Admin)),
    ("PUT", "/api/v1/registries/{registry}", Some(Role::Admin)),
    ("DELETE", "/api/v1/registries/{registry}", Some(Role::Admin)),
    ("GET", "/api/v1/defender-image", Some(Role::Viewer)),
    ("POST", "/api/v1/defender-image", Some(Role::Admin)),
    ("GET", "/api/v1/defenders", Some(Role::Viewer)),
    ("GET", "/api/v1/defenders/{id}", Some(Role::Viewer)),
    ("GET", "/api/v1/coverage", Some(Role::Viewer)),
    ("GET", "/api/v1/defenders.csv", Some(Role::Viewer)),
    ("GET", "/api/v1/defenders/history", Some(Role::Viewer)),
    ("GET", "/api/v1/defenders/changes", Some(Role::Viewer)),
    ("GET", "/api/v1/tokens", Some(Role::Admin)),
    ("POST", "/api/v1/tokens", Some(Role::Admin)),
    ("DELETE", "/api/v1/tokens/{id}", Some(Role::Admin)),
    (
        "DELETE",
        "/api/v1/families/{family}/tokens",
        Some(Role::Admin),
    ),
    ("GET", "/api/v1/incidents", Some(Role::Viewer)),
    ("GET", "/api/v1/incidents/{id}", Some(Role::Viewer)),
    (
        "POST",
        "/api/v1/incidents/{id}/acknowledge",
        Some(Role::Operator),
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/resolve",
        Some(Role::Operator),
    ),
    (
        "GET",
        "/api/v1/families/{family}/policy",
        Some(Role::Viewer),
    ),
    (
        "PUT",
        "/api/v1/families/{family}/policy",
        Some(Role::Operator),
    ),
    ("GET", "/api/v1/families/{family}/model", Some(Role::Viewer)),
    (
        "POST",
        "/api/v1/families/{family}/model/relearn",
        Some(Role::Operator),
    ),
    (
        "POST",
        "/api/v1/families/{family}/model/extend",
        Some(Role::Operator),
    ),
    (
        "POST",
        "/api/v1/families/{family}/model/executables",
        Some(Role::Operator),
    ),
    ("GET", "/api/v1/rules", Some(Role::Viewer)),
    ("GET", "/api/v1/api-tokens", Some(Role::Admin)),
    ("POST", "/api/v1/api-tokens", Some(Role::Admin)),
    ("DELETE", "/api/v1/api-tokens/{id}", Some(Role::Admin)),
    ("GET", "/api/v1/users", Some(Role::Admin)),
    ("POST", "/api/v1/users", Some(Role::Admin)),
    ("PUT", "/api/v1/users/{username}", Some(Role::Admin)),
    ("DELETE", "/api/v1/users/{username}", Some(Role::Admin)),
    ("GET", "/api/v1/audit", Some(Role::Admin)),
    ("POST", "/auth/sign-in", None),
    ("POST", "/auth/sign-out", None),
    ("GET", "/auth/oidc/start", None),
    ("GET", "/auth/oidc/callback", None),
    ("POST", "/api/whoami", None),
    ("POST", "/api/sign-in-options", None),
    ("POST", "/api/generate", Some(Role::Operator)),
    ("POST", "/api/recent-generations", Some(Role::Viewer)),
    ("POST", "/api/token-default", Some(Role::Operator)),
    ("POST", "/api/load-generation", Some(Role::Operator)),
    ("POST", "/api/register-generation", Some(Role::Operator)),
    ("POST", "/api/list-registrations", Some(Role::Viewer)),
    ("POST", "/api/ecs-families", Some(Role::Operator)),
    ("POST", "/api/ecs-revisions", Some(Role::Operator)),
    ("POST", "/api/ecs-import", Some(Role::Operator)),
    ("POST", "/api/get-ecs-settings", Some(Role::Admin)),
    ("POST", "/api/save-ecs-settings", Some(Role::Admin)),
    ("POST", "/api/list-registries", Some(Role::Admin)),
    ("POST", "/api/save-registry", Some(Role::Admin)),
    ("POST", "/api/defender-image", Some(Role::Viewer)),
    ("POST", "/api/publish-defender-image", Some(Role::Admin)),
    ("POST", "/api/remove-registry", Some(Role::Admin)),
    ("POST", "/api/list-tokens", Some(Role::Admin)),
    ("POST", "/api/create-token", Some(Role::Admin)),
    ("POST", "/api/revoke-token", Some(Role::Admin)),
    ("POST", "/api/list-api-tokens", Some(Role::Admin)),
    ("POST", "/api/create-api-token", Some(Role::Admin)),
    ("POST", "/api/revoke-api-token", Some(Role::Admin)),
    ("POST", "/api/list-users", Some(Role::Admin)),
    ("POST", "/api/add-user", Some(Role::Admin)),
    ("POST", "/api/remove-user", Some(Role::Admin)),
    ("POST", "/api/list-audit", Some(Role::Admin)),
    ("POST", "/api/list-defenders", Some(Role::Viewer)),
    ("POST", "/api/get-defender", Some(Role::Viewer)),
    ("POST", "/api/service-coverage", Some(Role::Viewer)),
    ("POST", "/api/defender-history", Some(Role::Viewer)),
    ("POST", "/api/list-incidents", Some(Role::Viewer)),
    ("POST", "/api/get-incident", Some(Role::Viewer)),
    ("POST", "/api/incident-counts", Some(Role::Viewer)),
    ("POST", "/api/set-incident-state", Some(Role::Operator)),
    ("POST", "/api/mark-normal", Some(Role::Operator)),
    ("POST", "/api/list-rules", Some(Role::Viewer)),
    ("POST", "/api/list-families", Some(Role::Viewer)),
    ("POST", "/api/get-family", Some(Role::Viewer)),
    ("POST", "/api/save-policy", Some(Role::Operator)),
    ("POST", "/api/relearn-model", Some(Role::Operator)),
    ("POST", "/api/extend-learning", Some(Role::Operator)),
    ("GET", "/sign-in", None),
    ("GET", "/", Some(Role::Viewer)),
    ("GET", "/protect", Some(Role::Viewer)),
    ("GET", "/defenders", Some(Role::Viewer)),
    ("GET", "/defenders/{id}", Some(Role::Viewer)),
    ("GET", "/incidents", Some(Role::Viewer)),
    ("GET", "/incidents/{id}", Some(Role::Viewer)),
    ("GET", "/models", Some(Role::Viewer)),
    ("GET", "/models/{family}", Some(Role::Viewer)),
    ("GET", "/revisions", Some(Role::Viewer)),
    ("GET", "/settings", Some(Role::Admin)),
    ("GET", "/audit", Some(Role::Admin)),
];

/// A concrete path for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{id}", "999999")
        .replace("{registry}", "registry.example")
        .replace("{username}", "nobody-here")
        .replace("{family}", "no-such-family")
}

fn is_page(path: &str) -> bool {
    !path.starts_with("/api/") && !path.starts_with("/auth/")
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    // The expectations cover the console's table exactly: a rule added, removed or changed on one
    // side only fails here.
    let expected: BTreeSet<(String, String, Option<Role>)> = EXPECTED
        .iter()
        .map(|(method, path, role)| ((*method).to_owned(), (*path).to_owned(), *role))
        .collect();
    let actual: BTreeSet<(String, String, Option<Role>)> = palisade_app::access::RULES
        .iter()
        .map(|rule| {
            let role = match rule.access {
                palisade_app::access::Access::Public => None,
                palisade_app::access::Access::Role(role) => Some(role),
            };
            (rule.method.to_owned(), rule.path.to_owned(), role)
        })
        .collect();
    assert_eq!(
        actual.symmetric_difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String, Option<Role>)>::new(),
        "the access table and this test's expectations differ"
    );

    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let callers = [
        (
            "nobody",
            None,
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        ),
        (
            "viewer",
            Some(Role::Viewer),
            client_with(&console.token(Role::Viewer).await),
        ),
        (
            "operator",
            Some(Role::Operator),
            client_with(&console.token(Role::Operator).await),
        ),
        (
            "admin",
            Some(Role::Admin),
            client_with(&console.admin_token),
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, needed) in EXPECTED {
        let url = format!("{}{}", console.base, concrete(path));
        for (who, role, client) in &callers {
            let request = client.request(Method::from_bytes(method.as_bytes()).unwrap(), &url);
            // JSON bodies pass the cross-site check without a browser's headers; handlers refuse
            // the empty object, which is fine: only 401, 403 and the sign-in redirect matter.
            let request = if *method == "GET" {
                request
            } else {
                request.json(&json!({}))
            };
            let status = request.send().await.unwrap().status().as_u16();
            let allowed = match needed {
                None => true,
                Some(needed) => role.is_some_and(|role| role >= *needed),
            };
            let ok = match (allowed, role) {
                (true, _) => {
                    let refused = [401, 403].contains(&status);
                    let sent_to_sign_in = is_page(path) && status == 303;
                    !refused && !sent_to_sign_in
                }
                (false, None) if is_page(path) => status == 303,
                (false, None) => status == 401,
                (false, Some(_)) => status == 403,
            };
            if !ok {
                wrong.push(format!("{method} {path} as {who}: {status}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n  {}",
        wrong.join("\n  ")
    );
    console.stop().await;
}

/// Signs in with a password over the REST API; the session cookie's value.
async fn sign_in(
    console: &Console,
    username: &str,
    password: &str,
) -> (u16, Option<String>, Value) {
    sign_in_via(console, username, password, None).await
}

/// Signs in with `X-Forwarded-For: forwarded_for`, as a load balancer in front would.
async fn sign_in_via(
    console: &Console,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/session", console.base))
        .json(&json!({ "username": username, "password": password }));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|value| value.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, cookie, body)
}

#[tokio::test]
async fn a_session_signs_in_refuses_cross_site_changes_and_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    users::create(
        &console.db,
        "alice",
        "correct horse battery",
        Role::Operator,
    )
    .await
    .unwrap();

    // One message for an unknown user and a wrong password.
    let (status, cookie, body) = sign_in(&console, "alice", "wrong horse battery").await;
    assert_eq!((status, cookie), (401, None));
    let unknown = sign_in(&console, "mallory", "correct horse battery").await;
    assert_eq!(unknown.0, 401);
    assert_eq!(body["error"], unknown.2["error"]);

    let (status, cookie, body) = sign_in(&console, "alice", "correct horse battery").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "operator");
    let cookie = cookie.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure ({cookie})"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let client = reqwest::Client::new();
    let me: Value = client
        .get(format!("{}/api/v1/session", console.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "alice");

    // A page elsewhere (another port of the same host: same site, another origin) posting with
    // the cookie is refused; the console's own origin goes through.
    let protect = |origin: &str| {
        client
            .post(format!("{}/api/v1/unprotect", console.base))
            .header("cookie", &session)
            .header("origin", origin)
            .header("content-type", "text/plain")
            .body(r#"{"input": "{}"}"#)
            .send()
    };
    assert_eq!(protect("http://127.0.0.1:1").await.unwrap().status(), 403);
    let own_origin = console.base.clone();
    assert_ne!(protect(&own_origin).await.unwrap().status(), 403);
    let sent_by_a_form = client
        .post(format!("{}/api/remove-registry", console.base))
        .header("cookie", &session)
        .header("sec-fetch-site", "same-site")
        .form(&[("registry", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent_by_a_form.status(), 403);

    // Sign-out ends the session at once.
    let signed_out = client
        .delete(format!("{}/api/v1/session", console.base))
        .header("cookie", &session)
        .header("origin", &own_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
    let after = client
        .get(format!("{}/api/v1/defenders", console.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    // The audit log has all of it.
    let audit = Api::new(&console).get("/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    for action in ["sign-in-failed", "sign-in", "sign-out"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    console.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_slow_down_further_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    users::create(&console.db, "bob", "correct horse battery", Role::Viewer)
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(sign_in(&console, "bob", "not his password").await.0, 401);
    }
    // Even the right password waits now; the answer says for how long.
    let (status, cookie, body) = sign_in(&console, "bob", "correct horse battery").await;
    assert_eq!((status, cookie), (429, None));
    assert!(
        body["error"].as_str().unwrap().contains("try again in"),
        "{body}"
    );
    console.stop().await;
}

#[tokio::test]
async fn sixty_guesses_sent_at_once_are_charged_before_any_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    users::create(&console.db, "bob", "correct horse battery", Role::Viewer)
        .await
        .unwrap();
    let guesses = (0..60).map(|n| {
        let console = &console;
        async move { sign_in(console, "bob", &format!("guess {n}")).await.0 }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|status| **status == 401).count();
    let throttled = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!(checked + throttled, 60, "{statuses:?}");
    assert!(
        (1..=5).contains(&checked),
        "at most the five free failures are checked, then the throttle: {statuses:?}"
    );
    console.stop().await;
}

/// A password sign-in from `forwarded_for` with `cookie`: (status, every `Set-Cookie` pair).
async fn sign_in_from(
    console: &Console,
    username: &str,
    password: &str,
    forwarded_for: &str,
    cookie: Option<&str>,
) -> (u16, Vec<String>) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/session", console.base))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "username": username, "password": password }));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| {
            value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    (response.status().as_u16(), cookies)
}

#[tokio::test]
async fn the_real_admin_signs_in_from_their_own_browser_while_their_account_is_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    users::create(&console.db, "root", "correct horse battery", Role::Admin)
        .await
        .unwrap();
    // The admin signed in from this browser before: it holds a device cookie.
    let (status, cookies) = sign_in_from(
        &console,
        "root",
        "correct horse battery",
        "192.0.2.10",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let device = cookies
        .iter()
        .find(|cookie| cookie.starts_with("palisade_device="))
        .expect("a device cookie")
        .clone();
    // Guesses for `root` from ever-changing addresses: the account waits longer and longer.
    for n in 0..12 {
        sign_in_from(&console, "root", "guess", &format!("203.0.113.{n}"), None).await;
    }
    let (status, _) = sign_in_from(
        &console,
        "root",
        "correct horse battery",
        "198.51.100.1",
        None,
    )
    .await;
    assert_eq!(status, 429, "a browser the account does not know waits");
    // The admin's own browser is not the guesser: it signs in.
    let (status, _) = sign_in_from(
        &console,
        "root",
        "correct horse battery",
        "192.0.2.10",
        Some(&device),
    )
    .await;
    assert_eq!(status, 200, "the known device gets in during the attack");
    // A device cookie altered by hand is no device at all.
    let forged = device.replacen('a', "b", 1);
    let (status, _) = sign_in_from(
        &console,
        "root",
        "correct horse battery",
        "192.0.2.11",
        Some(&forged),
    )
    .await;
    assert_eq!(status, 429);
    console.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_load_balancer_each_client_is_throttled_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for name in ["bob", "carol"] {
        users::create(&console.db, name, "correct horse battery", Role::Viewer)
            .await
            .unwrap();
    }
    for _ in 0..5 {
        let attempt = sign_in_via(&console, "bob", "guess", Some("203.0.113.66")).await;
        assert_eq!(attempt.0, 401);
    }
    // The guesser's address waits, whichever account it tries next...
    let (status, _, _) = sign_in_via(
        &console,
        "carol",
        "correct horse battery",
        Some("203.0.113.66"),
    )
    .await;
    assert_eq!(status, 429, "the guesser's address waits");
    // ...while everyone else behind the same load balancer signs in.
    let (status, cookie, body) = sign_in_via(
        &console,
        "carol",
        "correct horse battery",
        Some("198.51.100.20"),
    )
    .await;
    assert_eq!(status, 200, "carol is not blamed for the guesser: {body}");
    assert!(cookie.is_some());

    let audit = Api::new(&console).get("/audit").await;
    let guessed_from: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "sign-in-failed")
        .map(|entry| entry["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        guessed_from.len(),
        6,
        "five wrong passwords and one throttled: {audit}"
    );
    assert!(
        guessed_from
            .iter()
            .all(|address| *address == "203.0.113.66"),
        "{guessed_from:?}"
    );
    console.stop().await;
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    users::create(&console.db, "bob", "correct horse battery", Role::Viewer)
        .await
        .unwrap();
    users::create(&console.db, "carol", "correct horse battery", Role::Viewer)
        .await
        .unwrap();
    // A guesser who writes a new X-Forwarded-For each time is still one address.
    for attempt in 0..5 {
        let forwarded = format!("203.0.113.{attempt}");
        assert_eq!(
            sign_in_via(&console, "bob", "guess", Some(&forwarded))
                .await
                .0,
            401
        );
    }
    let (status, _, _) = sign_in_via(
        &console,
        "carol",
        "correct horse battery",
        Some("203.0.113.99"),
    )
    .await;
    assert_eq!(status, 429, "its address waits, whatever the header says");
    console.stop().await;
}

#[tokio::test]
async fn pipeline_tokens_carry_their_role_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let admin = Api::new(&console);
    let (status, created) = admin
        .send(
            Method::POST,
            "/api-tokens",
            json!({"role": "operator", "label": "ci"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("plt_"), "{token}");
    let pipeline = Api::with_token(&console, &token);

    let task = r#"{"family": "ci", "containerDefinitions": [{"name": "app", "image": "app:1", "entryPoint": ["/app"], "memory": 128}]}"#;
    let (status, body) = pipeline
        .send(Method::POST, "/protect", json!({"input": task}))
        .await;
    assert_eq!(status, 200, "an operator protects: {body}");
    let (status, _) = pipeline
        .send(
            Method::PUT,
            "/settings/ecs",
            json!({"region": "", "profile": "", "endpoint_url": ""}),
        )
        .await;
    assert_eq!(status, 403, "an operator does not change settings");
    // Its last use is written with the next batch (every 5 s), never on the request's path.
    let mut listed = admin.get("/api-tokens").await;
    for _ in 0..100 {
        if listed["api_tokens"][0]["last_used_at"].is_i64() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        listed = admin.get("/api-tokens").await;
    }
    let row = &listed["api_tokens"][0];
    assert_eq!(row["label"], "ci");
    assert!(row.get("token").is_none(), "values are never listed");
    assert!(row["last_used_at"].is_i64(), "{row}");

    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        admin
            .status(Method::DELETE, &format!("/api-tokens/{id}"))
            .await,
        204
    );
    let (status, _) = pipeline
        .send(Method::POST, "/protect", json!({"input": task}))
        .await;
    assert_eq!(status, 401, "revoked: refused from the next request on");

    let audit = admin.get("/audit").await;
    let generate = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["action"] == "generate")
        .unwrap();
    assert_eq!(generate["actor"], format!("token {id} (ci)"));
    assert!(
        generate["target"].as_str().unwrap().starts_with("ci"),
        "{generate}"
    );
    console.stop().await;
}

#[tokio::test]
async fn the_listeners_serve_only_what_they_are_for() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let client = console.client();

    // The defenders' listener: the channel (a 401 without a token, before any upgrade), and 404
    // for everything else, the API and the pages included.
    let channel = client
        .get(format!(
            "{}/api/v1/defenders/connect",
            console.defender_base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(channel.status(), 401);
    for path in [
        "/api/v1/defenders",
        "/api/v1/health",
        "/",
        "/settings",
        "/pkg/palisade.js",
    ] {
        let status = client
            .get(format!("{}{path}", console.defender_base))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path} on the defenders' listener");
    }
    // The people's listener does not serve the channel.
    let status = client
        .get(format!("{}/api/v1/defenders/connect", console.base))
        .send()
        .await
        .unwrap()
        .status();
    assert_ne!(status, 401, "not the channel's answer");
    assert!(status.is_client_error(), "{status}");

    // A host name that is not the console's (DNS rebinding) is refused; addresses pass.
    let rebound = client
        .get(format!("{}/api/v1/health", console.base))
        .header("host", "attacker.example:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);

    // Headers: a policy on every answer, framing refused, no sniffing.
    for path in ["/api/v1/health", "/"] {
        let response = client
            .get(format!("{}{path}", console.base))
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "not under plain HTTP"
        );
        if path == "/" {
            let html = response.text().await.unwrap();
            let nonce = policy
                .split("'nonce-")
                .nth(1)
                .and_then(|rest| rest.split('\'').next())
                .expect("a page's policy carries a nonce");
            assert!(
                html.contains(&format!("nonce=\"{nonce}\"")),
                "the hydration script carries the policy's nonce"
            );
        }
    }
    console.stop().await;
}

#[tokio::test]
async fn a_server_function_answers_a_refusal_with_its_4xx_never_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::start(&dir.path().join("palisade.db")).await;
    let admin = client_with(&console.admin_token);
    // A region that cannot work: the page's Save gets 422 and what to fix, as REST would.
    let response = admin
        .post(format!("{}/api/save-ecs-settings", console.base))
        .json(&json!({"settings": {"region": "not a region", "profile": "", "endpoint_url": ""}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let text = response.text().await.unwrap();
    assert!(text.contains("region"), "{text}");
    // A generation that is not there: 404.
    let response = admin
        .post(format!("{}/api/load-generation", console.base))
        .form(&[("id", "999999")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "{:?}", response.text().await);
    console.stop().await;
}
