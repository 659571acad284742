//! The Settings page: where ECS is (region, profile, endpoint). Empty fields leave the decision to
//! the AWS SDK's standard chain (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_ECS, roles...).

use crate::api::{error_text, get_ecs_settings, SaveEcsSettings};
use leptos::prelude::*;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let saved = Resource::new(|| (), |_| get_ecs_settings());
    let save = ServerAction::<SaveEcsSettings>::new();
    let region = RwSignal::new(String::new());
    let profile = RwSignal::new(String::new());
    let endpoint_url = RwSignal::new(String::new());
    // Tests (and impatient users) must not type before hydration: input typed earlier is lost.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    Effect::new(move |_| {
        if let Some(Ok(settings)) = saved.get() {
            region.set(settings.region);
            profile.set(settings.profile);
            endpoint_url.set(settings.endpoint_url);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(SaveEcsSettings {
            settings: crate::api::EcsSettingsView {
                region: region.get_untracked(),
                profile: profile.get_untracked(),
                endpoint_url: endpoint_url.get_untracked(),
            },
        });
    };
    view! {
        <section class="settings" data-hydrated=move || hydrated.get().to_string()>
            <header class="page-header">
                <h1>"Settings"</h1>
                <p class="muted">"Where Register revision and Import from ECS go. Empty fields use the AWS SDK's standard chain."</p>
            </header>
            <form class="settings-form" on:submit=submit>
                <label>"AWS region" <input type="text" data-testid="settings-region" placeholder="from AWS_REGION" prop:value=move || region.get() on:input=move |ev| region.set(event_target_value(&ev))/></label>
                <label>"AWS profile" <input type="text" data-testid="settings-profile" placeholder="from AWS_PROFILE" prop:value=move || profile.get() on:input=move |ev| profile.set(event_target_value(&ev))/></label>
                <label>"ECS endpoint URL" <input type="url" data-testid="settings-endpoint" placeholder="from AWS_ENDPOINT_URL_ECS" prop:value=move || endpoint_url.get() on:input=move |ev| endpoint_url.set(event_target_value(&ev))/></label>
                <div class="actions">
                    <button class="primary" type="submit" data-testid="settings-save" disabled=move || save.pending().get()>"Save"</button>
                    {move || save.value().get().map(|result| match result {
                        Ok(()) => view! { <span class="ok" data-testid="settings-saved">"Saved."</span> }.into_any(),
                        Err(error) => view! { <span class="error" role="alert" data-testid="settings-error">{error_text(&error)}</span> }.into_any(),
                    })}
                </div>
            </form>
        </section>
    }
}
