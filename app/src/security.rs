//! The Content-Security-Policy every response of the people's listener carries. Pages rendered by
//! Leptos get it with the render's nonce (the hydration scripts carry the same nonce); other
//! responses get it without one, from the server's header layer.

/// The policy: everything from this origin only, the wasm allowed to compile, scripts only with
/// `nonce` (no inline script otherwise), never framed, forms posting only here.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let scripts = match nonce {
        Some(nonce) => format!("script-src 'self' 'wasm-unsafe-eval' 'nonce-{nonce}'"),
        None => "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
    };
    format!(
        "default-src 'self'; {scripts}; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Puts the policy with this render's nonce on the page's response (call it while rendering).
pub fn send_content_security_policy() {
    use leptos::prelude::use_context;
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(Some(&nonce))) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}
