//! The sign-in page: a plain form that posts to `/auth/sign-in` (it works before the wasm arrives,
//! and the password never passes through the app's code), and single sign-on when configured.

use crate::api::session::{safe_next, sign_in_options};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || safe_next(query.with(|q| q.get("next")));
    let error = move || query.with(|q| q.get("error"));
    let options = Resource::new(|| (), |_| sign_in_options());
    view! {
        <section class="sign-in">
            <header class="page-header">
                <h1>"Sign in to Palisade"</h1>
            </header>
            {move || error().map(|error| view! { <p class="error" role="alert" data-testid="sign-in-error">{error}</p> })}
            <form method="post" action="/auth/sign-in">
                <input type="hidden" name="next" value=next/>
                <label>"Username" <input type="text" name="username" data-testid="username" autocomplete="username" required autofocus/></label>
                <label>"Password" <input type="password" name="password" data-testid="password" autocomplete="current-password" required/></label>
                <button class="primary" type="submit" data-testid="sign-in">"Sign in"</button>
            </form>
            <Transition fallback=|| ()>
                {move || options.get().and_then(Result::ok).filter(|options| options.sso).map(|_| view! {
                    <p class="sso">
                        <a class="button" data-testid="sign-in-sso" rel="external" href=move || format!("/auth/oidc/start?next={}", urlencode(&next()))>"Sign in with single sign-on"</a>
                    </p>
                })}
            </Transition>
        </section>
    }
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
