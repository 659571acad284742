//! The Settings page: where ECS is (region and profile; empty fields leave the decision to the AWS
//! SDK's standard chain: AWS_REGION, AWS_PROFILE, roles...; the endpoint shown read-only, as the
//! deployment set it with AWS_ENDPOINT_URL_ECS), how
//! private registries are reached, the defender image the console publishes, the defender
//! tokens, pipeline tokens and people. Admins only.

use crate::api::error_text;
use crate::api::settings::{get_ecs_settings, EcsSettingsView, SaveEcsSettings};
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
            settings: EcsSettingsView {
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
                <label>"ECS endpoint" <input type="url" data-testid="settings-endpoint" readonly placeholder="AWS's own for the region" title="Set by the console's deployment (AWS_ENDPOINT_URL_ECS), not here" prop:value=move || endpoint_url.get()/></label>
                <div class="actions">
                    <button class="primary" type="submit" data-testid="settings-save" disabled=move || save.pending().get()>"Save"</button>
                    {move || save.value().get().map(|result| match result {
                        Ok(()) => view! { <span class="ok" data-testid="settings-saved">"Saved."</span> }.into_any(),
                        Err(error) => view! { <span class="error" role="alert" data-testid="settings-error">{error_text(&error)}</span> }.into_any(),
                    })}
                </div>
            </form>
            <Registries/>
            <DefenderImage/>
            <DefenderTokens/>
            <PipelineTokens/>
            <Users/>
        </section>
    }
}

/// The defender image: built from the console's own binaries and pushed to the account's ECR (or
/// a registry given here); from then on Generate's default.
#[component]
fn DefenderImage() -> impl IntoView {
    use crate::api::settings::{defender_image, PublishDefenderImage};
    let publish = ServerAction::<PublishDefenderImage>::new();
    let current = Resource::new(move || publish.version().get(), |_| defender_image());
    let repository = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        publish.dispatch(PublishDefenderImage {
            repository: repository.get_untracked(),
        });
    };
    view! {
        <h2>"Defender image"</h2>
        <p class="muted">"Protected tasks run the defender from this image. The console builds it from its own static binaries (linux/amd64 and linux/arm64, no Docker needed) and pushes it to the account's ECR (palisade/defender, created with scan on push and immutable tags) or to a registry it has credentials for. Publishing unchanged binaries again pushes nothing."</p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || current.get().map(|result| match result {
                Err(error) => view! { <p class="error">{error_text(&error)}</p> }.into_any(),
                Ok(view) => match view.reference {
                    Some(reference) => view! {
                        <p>"Default defender image: " <code class="mono" data-testid="defender-image-current">{reference}</code></p>
                    }.into_any(),
                    None => view! {
                        <p class="warning" data-testid="defender-image-current">"No defender image is published yet: tasks generated now name one that cannot be pulled."</p>
                    }.into_any(),
                },
            })}
        </Transition>
        <form class="token-form" on:submit=submit>
            <input type="text" data-testid="defender-image-repository" placeholder="the account's ECR (or REGISTRY/REPOSITORY)" prop:value=move || repository.get() on:input=move |ev| repository.set(event_target_value(&ev))/>
            <button class="primary" type="submit" data-testid="defender-image-publish" disabled=move || publish.pending().get()>
                {move || if publish.pending().get() { "Publishing…" } else { "Publish the defender image" }}
            </button>
        </form>
        {move || publish.value().get().map(|result| match result {
            Ok(published) => view! {
                <p class="ok" data-testid="defender-image-published">
                    {format!(
                        "Published {} ({}): {} blobs and {} manifests pushed, {} and {} already there{}.",
                        published.tagged,
                        published.architectures.join(", "),
                        published.blobs_pushed,
                        published.manifests_pushed,
                        published.blobs_present,
                        published.manifests_present,
                        if published.repository_created { "; the ECR repository was created" } else { "" },
                    )}
                </p>
            }.into_any(),
            Err(error) => view! { <p class="error" role="alert" data-testid="defender-image-error">{error_text(&error)}</p> }.into_any(),
        })}
    }
}

/// Defender tokens: create one per family (its value is shown once), see when each was last used,
/// revoke.
#[component]
fn DefenderTokens() -> impl IntoView {
    use crate::api::settings::{list_tokens, CreateToken, RevokeToken};
    use crate::format::{ago, last_used};
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let family = RwSignal::new(String::new());
    let label = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateToken {
            family: family.get_untracked(),
            label: label.get_untracked(),
        });
    };
    view! {
        <h2>"Defender tokens"</h2>
        <p class="muted">"One family each: a leaked task definition only exposes its own family. Give the token to the task as PALISADE_TOKEN, best from Secrets Manager or SSM (Protect's token field takes the ARN), or let Generate create one and store it in Secrets Manager."</p>
        <form class="token-form" on:submit=submit>
            <input type="text" data-testid="token-family" placeholder="family" prop:value=move || family.get() on:input=move |ev| family.set(event_target_value(&ev))/>
            <input type="text" data-testid="token-label" placeholder="note (optional)" prop:value=move || label.get() on:input=move |ev| label.set(event_target_value(&ev))/>
            <button class="primary" type="submit" data-testid="token-create" disabled=move || create.pending().get()>"Create token"</button>
        </form>
        {move || create.value().get().map(|result| match result {
            Ok(created) => view! {
                <div class="new-token" data-testid="new-token">
                    <div>{format!("Token {} for family {}: copy it now, it is not shown again.", created.id, created.family)}</div>
                    <code class="mono" data-testid="new-token-value">{created.token}</code>
                </div>
            }.into_any(),
            Err(error) => view! { <p class="error" role="alert" data-testid="token-error">{error_text(&error)}</p> }.into_any(),
        })}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || tokens.get().map(|result| match result {
                Err(error) => view! { <p class="error">{error_text(&error)}</p> }.into_any(),
                Ok((rows, _)) if rows.is_empty() => view! { <p class="muted">"No tokens yet."</p> }.into_any(),
                Ok((rows, now)) => view! {
                    <table class="grid" data-testid="tokens">
                        <thead><tr><th>"ID"</th><th>"Family"</th><th>"Note"</th><th>"Created"</th><th>"Last used"</th><th>"Status"</th><th></th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|token| {
                                let id = token.id;
                                let active = token.revoked_at.is_none();
                                view! {
                                    <tr data-testid="token-row">
                                        <td>{token.id}</td>
                                        <td>{token.family}</td>
                                        <td>{token.label}</td>
                                        <td>{ago(now, token.created_at)}</td>
                                        <td>{last_used(now, token.last_used_at)}</td>
                                        <td>{if active { "active" } else { "revoked" }}</td>
                                        <td>{active.then(|| view! {
                                            <button data-testid="token-revoke" on:click=move |_| { revoke.dispatch(RevokeToken { id }); }>"Revoke"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

/// Private registries: credentials by reference (the password is read where it lives, never
/// stored or shown) and an endpoint to reach a registry at. ECR needs neither.
#[component]
fn Registries() -> impl IntoView {
    use crate::api::settings::{list_registries, RegistryView, RemoveRegistry, SaveRegistry};
    let save = ServerAction::<SaveRegistry>::new();
    let remove = ServerAction::<RemoveRegistry>::new();
    let registries = Resource::new(
        move || (save.version().get(), remove.version().get()),
        |_| list_registries(),
    );
    let form = RwSignal::new(RegistryView::default());
    let field = move |ev: &leptos::ev::Event, set: fn(&mut RegistryView, String)| {
        let value = event_target_value(ev);
        form.update(|form| set(form, value));
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(SaveRegistry {
            registry: form.get_untracked(),
        });
    };
    // A saved registry clears the form for the next one.
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            form.set(RegistryView::default());
        }
    });
    view! {
        <h2>"Registries"</h2>
        <p class="muted">"How Protect reads entrypoints from private registries. The password is given by reference, read at each lookup, never stored or shown: env:PALISADE_REGISTRY_<NAME> (a variable of the console's environment) or file: a path inside PALISADE_SECRETS_DIR. ECR registries need nothing here: their login comes from the AWS chain above. An endpoint reaches a registry through a mirror, a pull-through cache or a private endpoint; a registry's credentials (or ECR login) go there only if you tick the box."</p>
        <form class="registry-form" on:submit=submit>
            <input type="text" data-testid="registry-host" placeholder="registry host[:port]" required
                prop:value=move || form.with(|f| f.registry.clone()) on:input=move |ev| field(&ev, |f, v| f.registry = v)/>
            <input type="text" data-testid="registry-username" placeholder="user name" autocomplete="off"
                prop:value=move || form.with(|f| f.username.clone()) on:input=move |ev| field(&ev, |f, v| f.username = v)/>
            <input type="text" data-testid="registry-password-ref" placeholder="env:PALISADE_REGISTRY_NAME or file:/path" autocomplete="off"
                prop:value=move || form.with(|f| f.password_ref.clone()) on:input=move |ev| field(&ev, |f, v| f.password_ref = v)/>
            <input type="text" data-testid="registry-endpoint" placeholder="endpoint (optional) https://host[:port]"
                prop:value=move || form.with(|f| f.endpoint.clone()) on:input=move |ev| field(&ev, |f, v| f.endpoint = v)/>
            <label class="inline">
                <input type="checkbox" data-testid="registry-credentials-to-endpoint"
                    prop:checked=move || form.with(|f| f.credentials_to_endpoint)
                    on:change=move |ev| { let checked = event_target_checked(&ev); form.update(|f| f.credentials_to_endpoint = checked); }/>
                "send the credentials to the endpoint"
            </label>
            <button class="primary" type="submit" data-testid="registry-save" disabled=move || save.pending().get()>"Save registry"</button>
        </form>
        {move || save.value().get().and_then(|result| result.err()).map(|error| view! {
            <p class="error" role="alert" data-testid="registry-error">{error_text(&error)}</p>
        })}
        {move || remove.value().get().and_then(|result| result.err()).map(|error| view! {
            <p class="error" role="alert">{error_text(&error)}</p>
        })}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || registries.get().map(|result| match result {
                Err(error) => view! { <p class="error">{error_text(&error)}</p> }.into_any(),
                Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="registries-empty">"No registry settings: public images and ECR work without any."</p> }.into_any(),
                Ok(rows) => view! {
                    <table class="grid" data-testid="registries">
                        <thead><tr><th>"Registry"</th><th>"User"</th><th>"Password from"</th><th>"Endpoint"</th><th></th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|row| registry_row(row, remove)).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

/// A registry's settings as listed, with its Remove button.
fn registry_row(
    row: crate::api::settings::RegistryView,
    remove: ServerAction<crate::api::settings::RemoveRegistry>,
) -> impl IntoView {
    use crate::api::settings::RemoveRegistry;
    let host = row.registry.clone();
    let or_dash = |text: String| {
        if text.is_empty() {
            "—".to_owned()
        } else {
            text
        }
    };
    view! {
        <tr data-testid="registry-row">
            <td class="mono">{row.registry}</td>
            <td>{or_dash(row.username)}</td>
            <td class="mono">{if row.ecr_login { "ECR login (AWS chain)".to_owned() } else { or_dash(row.password_ref) }}</td>
            <td class="mono">
                {or_dash(row.endpoint)}
                {row.credentials_to_endpoint.then(|| view! { <span class="badge warn" data-testid="registry-credentials-leave">" credentials go here"</span> })}
            </td>
            <td><button data-testid="registry-remove" on:click=move |_| { remove.dispatch(RemoveRegistry { registry: host.clone() }); }>"Remove"</button></td>
        </tr>
    }
}

/// Pipeline tokens: a bearer token with a role for CI and scripts (its value is shown once).
#[component]
fn PipelineTokens() -> impl IntoView {
    use crate::api::admin::{list_api_tokens, CreateApiToken, RevokeApiToken};
    use crate::api::session::Role;
    use crate::format::{ago, last_used};
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    let role = RwSignal::new(Role::Operator);
    let label = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateApiToken {
            role: role.get_untracked(),
            label: label.get_untracked(),
        });
    };
    let roles = [Role::Viewer, Role::Operator, Role::Admin];
    view! {
        <h2>"Pipeline tokens"</h2>
        <p class="muted">"For CI and scripts: Authorization: Bearer <token> on the REST API, with the token's role. Shown once; revoked tokens are refused at once."</p>
        <form class="token-form" on:submit=submit>
            <select data-testid="api-token-role" on:change=move |ev| {
                let value = event_target_value(&ev);
                if let Some(chosen) = roles.into_iter().find(|r| r.as_str() == value) { role.set(chosen); }
            } prop:value=move || role.get().as_str()>
                {roles.into_iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
            </select>
            <input type="text" data-testid="api-token-label" placeholder="note (e.g. the pipeline)" prop:value=move || label.get() on:input=move |ev| label.set(event_target_value(&ev))/>
            <button class="primary" type="submit" data-testid="api-token-create" disabled=move || create.pending().get()>"Create pipeline token"</button>
        </form>
        {move || create.value().get().map(|result| match result {
            Ok(created) => view! {
                <div class="new-token" data-testid="new-api-token">
                    <div>{format!("Pipeline token {} ({}): copy it now, it is not shown again.", created.id, created.role.as_str())}</div>
                    <code class="mono" data-testid="new-api-token-value">{created.token}</code>
                </div>
            }.into_any(),
            Err(error) => view! { <p class="error" role="alert">{error_text(&error)}</p> }.into_any(),
        })}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || tokens.get().map(|result| match result {
                Err(error) => view! { <p class="error">{error_text(&error)}</p> }.into_any(),
                Ok((rows, _)) if rows.is_empty() => view! { <p class="muted">"No pipeline tokens yet."</p> }.into_any(),
                Ok((rows, now)) => view! {
                    <table class="grid" data-testid="api-tokens">
                        <thead><tr><th>"ID"</th><th>"Role"</th><th>"Note"</th><th>"Created"</th><th>"Last used"</th><th>"Status"</th><th></th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|token| {
                                let id = token.id;
                                let active = token.revoked_at.is_none();
                                view! {
                                    <tr data-testid="api-token-row">
                                        <td>{token.id}</td>
                                        <td>{token.role.as_str()}</td>
                                        <td>{token.label}</td>
                                        <td>{format!("{} by {}", ago(now, token.created_at), token.created_by)}</td>
                                        <td>{last_used(now, token.last_used_at)}</td>
                                        <td>{if active { "active" } else { "revoked" }}</td>
                                        <td>{active.then(|| view! {
                                            <button data-testid="api-token-revoke" on:click=move |_| { revoke.dispatch(RevokeApiToken { id }); }>"Revoke"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

/// People: local accounts (a password) and single sign-on users (seen once they signed in).
#[component]
fn Users() -> impl IntoView {
    use crate::api::admin::{list_users, AddUser, RemoveUser};
    use crate::api::session::Role;
    let add = ServerAction::<AddUser>::new();
    let remove = ServerAction::<RemoveUser>::new();
    let users = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| list_users(),
    );
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        add.dispatch(AddUser {
            username: username.get_untracked(),
            password: password.get_untracked(),
            role: role.get_untracked(),
        });
    };
    // An account added clears the form, the password first.
    Effect::new(move |_| {
        if let Some(Ok(())) = add.value().get() {
            username.set(String::new());
            password.set(String::new());
        }
    });
    let roles = [Role::Viewer, Role::Operator, Role::Admin];
    view! {
        <h2>"People"</h2>
        <p class="muted">"Local accounts sign in with a password (at least 12 characters); single sign-on users appear after their first sign-in, with the role their identity provider gives."</p>
        <form class="token-form" on:submit=submit>
            <input type="text" data-testid="user-name" placeholder="username" autocomplete="off" prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/>
            <input type="password" data-testid="user-password" placeholder="password" autocomplete="new-password" prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
            <select data-testid="user-role" on:change=move |ev| {
                let value = event_target_value(&ev);
                if let Some(chosen) = roles.into_iter().find(|r| r.as_str() == value) { role.set(chosen); }
            } prop:value=move || role.get().as_str()>
                {roles.into_iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
            </select>
            <button class="primary" type="submit" data-testid="user-add" disabled=move || add.pending().get()>"Add account"</button>
        </form>
        {move || add.value().get().and_then(Result::err).map(|error| view! { <p class="error" role="alert" data-testid="user-error">{error_text(&error)}</p> })}
        {move || remove.value().get().and_then(Result::err).map(|error| view! { <p class="error" role="alert">{error_text(&error)}</p> })}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || users.get().map(|result| match result {
                Err(error) => view! { <p class="error">{error_text(&error)}</p> }.into_any(),
                Ok(rows) => view! {
                    <table class="grid" data-testid="users">
                        <thead><tr><th>"Username"</th><th>"Role"</th><th>"Sign-in"</th><th></th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|user| {
                                let name = user.username.clone();
                                view! {
                                    <tr data-testid="user-row">
                                        <td>{user.username}</td>
                                        <td>{user.role.as_str()}</td>
                                        <td>{if user.source == "oidc" { "single sign-on" } else { "password" }}</td>
                                        <td><button data-testid="user-remove" on:click=move |_| { remove.dispatch(RemoveUser { username: name.clone() }); }>"Remove"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}
