//! Both listeners over HTTPS with a test CA: people and pipelines reach the API, the defenders'
//! listener completes a WebSocket handshake, the session cookie is `Secure` and HSTS is sent; a
//! client that does not trust the CA gets nowhere.

use crate::common::Console;
use palisade_server::config::TlsFiles;
use palisade_test_support::tls::TestCa;
use serde_json::json;

#[tokio::test]
async fn both_listeners_speak_tls_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let console = Console::start_with(&dir.path().join("palisade.db"), |config| {
        config.tls = Some(TlsFiles {
            cert: ca.cert.clone(),
            key: ca.key.clone(),
        });
    })
    .await;
    assert!(console.base.starts_with("https://"));
    let client = ca.client();

    let health = client
        .get(format!("{}/api/v1/health", console.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let listed = client
        .get(format!("{}/api/v1/defenders", console.base))
        .bearer_auth(&console.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);

    // Under TLS the session cookie is Secure.
    palisade_console::auth::users::create(
        &console.db,
        "alice",
        "correct horse battery",
        palisade_console::auth::Role::Viewer,
    )
    .await
    .unwrap();
    let signed_in = client
        .post(format!("{}/api/v1/session", console.base))
        .json(&json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");

    // The defenders' listener speaks TLS too: its channel answers (401 without a token).
    let channel = client
        .get(format!(
            "{}{}",
            console.defender_base,
            palisade_protocol::CONNECT_PATH
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(channel.status(), 401);

    // A client that trusts only the public roots refuses the certificate.
    let stranger = reqwest::Client::new()
        .get(format!("{}/api/v1/health", console.base))
        .send()
        .await
        .unwrap_err();
    assert!(stranger.is_connect(), "{stranger:?}");
    console.stop().await;
}
