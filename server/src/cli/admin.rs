//! The commands that manage the console's database: people, pipeline tokens, defender tokens,
//! registry settings, and the list of defenders. What they change goes to the audit log as done
//! by `cli` (the person at the terminal runs the console).

use super::{open_console, Failure, Outcome};
use clap::Subcommand;
use palisade_app::api::defenders::DefenderList;
use palisade_app::format::human_duration;
use palisade_console::auth::{api_tokens, users, Role};
use palisade_console::defenders::{self, tokens, DefenderQuery};
use palisade_console::images::registries::{self, RegistrySettings};
use palisade_console::text::json_printable;
use std::io::BufRead;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// How to reach HOST: credentials (USER and the password found at REF,
    /// env:PALISADE_REGISTRY_NAME or file: a path inside PALISADE_SECRETS_DIR), an endpoint to
    /// reach it at, or both. ECR hosts need neither: their login comes from the AWS chain.
    Set {
        host: String,
        #[arg(long, requires = "password_ref")]
        username: Option<String>,
        #[arg(long, value_name = "REF", requires = "username")]
        password_ref: Option<String>,
        /// `https://host[:port]` (or `http://` for a registry without TLS): a mirror, a
        /// pull-through cache or a private endpoint that serves HOST's images.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// Send HOST's credentials (or its ECR login) to the endpoint: required with both.
        #[arg(long, requires = "endpoint")]
        credentials_to_endpoint: bool,
    },
    /// The registries with settings (never a password).
    List,
    Remove {
        host: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DefenderImageCommand {
    /// Build the defender image from the console's own static binaries (linux/amd64 and
    /// linux/arm64) and push it; it becomes the default defender image. Prints the reference
    /// pinned by digest alone on the last line.
    Publish {
        /// REGISTRY/REPOSITORY[:TAG] (default: the account's ECR, palisade/defender, created when
        /// missing). Credentials: the registry's settings, or ECR's login.
        #[arg(long, value_name = "REPO")]
        repository: Option<String>,
    },
    /// The default defender image (the published one), or nothing.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// A new local account; its password is the first line of stdin (at least 12 characters).
    Add {
        username: String,
        /// admin, operator or viewer.
        #[arg(long)]
        role: String,
    },
    /// A new password (the first line of stdin); the account's sessions end.
    Passwd { username: String },
    /// A new role for an account (never demoting the last admin); its sessions keep going with
    /// the new role from their next request.
    Role { username: String, role: String },
    /// Removes an account (never the last admin).
    Remove { username: String },
    /// Every account: name, role, how they sign in.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// A new pipeline token with ROLE; the token is printed alone on the last line (shown once).
    Create {
        /// admin, operator or viewer.
        #[arg(long)]
        role: String,
        /// A note to recognize it by (the pipeline's name).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// The pipeline tokens (never their values).
    List,
    /// Revokes a pipeline token: refused from its next request on.
    Revoke { id: i64 },
}

/// The password on the first line of stdin (a pipe, or typed).
fn password_from_stdin() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| Failure::Read(format!("reading the password from stdin: {error}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(Failure::Read(
            "give the password on the first line of stdin".into(),
        ));
    }
    Ok(password)
}

/// Who the audit log says did it: the person at the terminal.
fn operator_name() -> String {
    std::env::var("USER")
        .map(|user| format!("cli ({user})"))
        .unwrap_or_else(|_| "cli".into())
}

pub async fn users(command: UserCommand) -> Outcome {
    let console = open_console().await?;
    let actor = operator_name();
    let (action, target, result) = match command {
        UserCommand::Add { username, role } => {
            let role = Role::parse(&role)?;
            let password = password_from_stdin()?;
            let added = users::create(console.db(), &username, &password, role).await;
            if added.is_ok() {
                eprintln!("account {username} ({role}) added");
            }
            (
                "user-add",
                format!("{username} ({role})"),
                added.map(|_| ()),
            )
        }
        UserCommand::Passwd { username } => {
            let password = password_from_stdin()?;
            let changed = users::set_password(console.db(), &username, &password).await;
            if changed.is_ok() {
                eprintln!("new password for {username}; its sessions ended");
            }
            ("user-change", format!("{username}: password"), changed)
        }
        UserCommand::Role { username, role } => {
            let role = Role::parse(&role)?;
            let changed = users::set_role(console.db(), &username, role).await;
            if changed.is_ok() {
                eprintln!("{username} is now {role}");
            }
            ("user-change", format!("{username}: role {role}"), changed)
        }
        UserCommand::Remove { username } => {
            let removed = users::remove(console.db(), &username).await;
            ("user-remove", username, removed)
        }
        UserCommand::List => {
            for user in users::list(console.db()).await? {
                println!("{}\t{}\t{}", user.username, user.role, user.source);
            }
            return Ok(());
        }
    };
    let outcome = match &result {
        Ok(()) => "ok".to_owned(),
        Err(error) => error.to_string(),
    };
    console
        .audit(Some(&actor), "", action, &target, &outcome)
        .await;
    Ok(result?)
}

pub async fn defender_image(command: DefenderImageCommand) -> Outcome {
    let console = open_console().await?;
    match command {
        DefenderImageCommand::Publish { repository } => {
            let published = console.publish_defender_image(repository.as_deref()).await;
            let outcome = match &published {
                Ok(published) => published.reference.clone(),
                Err(error) => error.to_string(),
            };
            console
                .audit(
                    Some(&operator_name()),
                    "",
                    "defender-image-publish",
                    repository.as_deref().unwrap_or("the account's ECR"),
                    &outcome,
                )
                .await;
            let published = published?;
            eprintln!(
                "{} ({}): {} blobs and {} manifests pushed, {} and {} already there{}",
                published.tagged,
                published.architectures.join(", "),
                published.report.blobs_pushed,
                published.report.manifests_pushed,
                published.report.blobs_present,
                published.report.manifests_present,
                if published.repository_created {
                    "; the ECR repository was created"
                } else {
                    ""
                }
            );
            println!("{}", published.reference);
        }
        DefenderImageCommand::Show => {
            if let Some(reference) = console.defender_image().await? {
                println!("{reference}");
            }
        }
    }
    Ok(())
}

pub async fn api_tokens(command: ApiTokenCommand) -> Outcome {
    let console = open_console().await?;
    let actor = operator_name();
    match command {
        ApiTokenCommand::Create { role, label } => {
            let role = Role::parse(&role)?;
            let created = api_tokens::create(console.db(), role, &label, &actor).await?;
            console
                .audit(
                    Some(&actor),
                    "",
                    "api-token-create",
                    &format!("{role} ({label})"),
                    "ok",
                )
                .await;
            eprintln!(
                "pipeline token {} ({role}): give it as Authorization: Bearer <token>; it is not shown again",
                created.id
            );
            println!("{}", created.token);
        }
        ApiTokenCommand::List => {
            for token in api_tokens::list(console.db()).await? {
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{state}\t{}\t{}",
                    token.id, token.role, token.created_by, token.label
                );
            }
        }
        ApiTokenCommand::Revoke { id } => {
            let revoked = api_tokens::revoke(console.db(), id).await;
            let outcome = match &revoked {
                Ok(()) => "ok".to_owned(),
                Err(error) => error.to_string(),
            };
            console
                .audit(
                    Some(&actor),
                    "",
                    "api-token-revoke",
                    &format!("token {id}"),
                    &outcome,
                )
                .await;
            revoked?;
            eprintln!("pipeline token {id} revoked");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new defender token for family F (shown once; only its hash is stored).
    Create {
        #[arg(long)]
        family: String,
        /// A note to recognize it by.
        #[arg(long, default_value = "")]
        label: String,
        /// Store it in Secrets Manager (`palisade/defender-token/F`, region and profile from the
        /// console's settings) and print the secret's ARN instead of the token.
        #[arg(long)]
        secrets_manager: bool,
    },
    /// List the tokens (never their values).
    List,
    /// Revoke a token: defenders using it are refused from their next connection.
    Revoke { id: i64 },
}

pub async fn tokens(command: TokenCommand) -> Outcome {
    let console = open_console().await?;
    match command {
        TokenCommand::Create {
            family,
            label,
            secrets_manager: true,
        } => {
            let (created, arn) = console
                .create_token_in_secrets_manager(&family, &label)
                .await?;
            eprintln!("token {} for family {} is in Secrets Manager: give the task this ARN (protect --token-secret); its execution role needs secretsmanager:GetSecretValue on it", created.id, created.family);
            println!("{arn}");
        }
        TokenCommand::Create { family, label, .. } => {
            let created = tokens::create(console.db(), &family, &label).await?;
            eprintln!("token {} for family {}: give it to the task as PALISADE_TOKEN (best from Secrets Manager or SSM); it is not shown again", created.id, created.family);
            println!("{}", created.token);
        }
        TokenCommand::List => {
            for token in tokens::list(console.db()).await? {
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{state}\t{}", token.id, token.family, token.label);
            }
        }
        TokenCommand::Revoke { id } => {
            tokens::revoke(console.db(), id).await?;
            eprintln!("token {id} revoked");
        }
    }
    Ok(())
}

pub async fn registries(command: RegistryCommand) -> Outcome {
    let console = open_console().await?;
    match command {
        RegistryCommand::Set {
            host,
            username,
            password_ref,
            endpoint,
            credentials_to_endpoint,
        } => {
            let settings = RegistrySettings::parse(
                &host,
                username.as_deref(),
                password_ref.as_deref(),
                endpoint.as_deref(),
                credentials_to_endpoint,
                console.deployment().secrets_dir.as_deref(),
            )?;
            registries::save(console.db(), &settings).await?;
        }
        RegistryCommand::List => {
            let or_dash = |field: &Option<String>| field.clone().unwrap_or_else(|| "-".into());
            for settings in registries::list(console.db()).await? {
                println!(
                    "{}\t{}\t{}\t{}{}",
                    settings.registry,
                    or_dash(&settings.username),
                    or_dash(&settings.password_ref),
                    or_dash(&settings.endpoint),
                    if settings.credentials_to_endpoint {
                        "\t(credentials go to the endpoint)"
                    } else {
                        ""
                    }
                );
            }
        }
        RegistryCommand::Remove { host } => registries::remove(console.db(), &host).await?,
    }
    Ok(())
}

pub async fn defenders(status: &str, search: &str, json: bool) -> Outcome {
    let query = DefenderQuery::parse(status, search, "", 1, DefenderQuery::MAX_PER_PAGE)?;
    let console = open_console().await?;
    // The API's view: the JSON shape, and the words the dashboard uses. What defenders reported
    // reaches the terminal with its control characters escaped: JSON escapes of the same text,
    // or `\u{1b}`-style escapes in the table, where a raw newline would also forge a row.
    let list = DefenderList::from(defenders::list(console.db(), &query).await?);
    if json {
        let text = serde_json::to_string_pretty(&list).map_err(anyhow::Error::from)?;
        println!("{}", json_printable(&text));
        return Ok(());
    }
    let list = list.printable();
    println!(
        "{} connected, {} disconnected",
        list.connected, list.disconnected
    );
    for defender in &list.defenders {
        let since = match defender.disconnected_at_ms {
            None => format!(
                "connected for {}",
                human_duration(list.now_ms - defender.connected_since_ms)
            ),
            Some(at) => format!("disconnected {} ago", human_duration(list.now_ms - at)),
        };
        println!(
            "{}\t{}\t{}:{}\t{}\t{}\t{} processes\t{}",
            defender.id,
            defender.status.as_str(),
            defender.family,
            defender.revision,
            defender.cluster_name(),
            defender.task_id(),
            defender.process_count,
            since
        );
    }
    Ok(())
}
