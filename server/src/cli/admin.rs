//! The commands that manage the console's database: people, pipeline tokens, defender tokens,
//! registry settings, and the list of defenders. Each calls one of the console's use-cases as
//! [`Actor::host`], so what they change goes to the audit log as done by `cli (<login>)`, like a
//! change made from a page or the REST API.

use super::{Failure, Outcome};
use crate::config::StoreArgs;
use clap::Subcommand;
use palisade_app::api::defenders::{DefenderList, Printable};
use palisade_app::format::human_duration;
use palisade_console::auth::Role;
use palisade_console::defenders::DefenderQuery;
use palisade_console::text::json_printable;
use palisade_console::use_cases::{RegistryChange, TokenKept, UserChange};
use palisade_console::Actor;
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

pub async fn users(command: UserCommand, store: &StoreArgs) -> Outcome {
    let console = store.open().await?;
    let (users, host) = (console.users(), Actor::host());
    match command {
        UserCommand::Add { username, role } => {
            let role = Role::parse(&role).map_err(palisade_console::Error::from)?;
            let password = password_from_stdin()?;
            users.add(&host, &username, &password, role).await?;
            eprintln!("account {username} ({role}) added");
        }
        UserCommand::Passwd { username } => {
            let password = Some(password_from_stdin()?);
            let change = UserChange {
                password,
                role: None,
            };
            users.change(&host, &username, change).await?;
            eprintln!("new password for {username}; its sessions ended");
        }
        UserCommand::Role { username, role } => {
            let role = Role::parse(&role).map_err(palisade_console::Error::from)?;
            let change = UserChange {
                password: None,
                role: Some(role),
            };
            users.change(&host, &username, change).await?;
            eprintln!("{username} is now {role}");
        }
        UserCommand::Remove { username } => users.remove(&host, &username).await?,
        UserCommand::List => {
            for user in users.list().await? {
                println!("{}\t{}\t{}", user.username, user.role, user.source);
            }
        }
    }
    Ok(())
}

pub async fn defender_image(command: DefenderImageCommand, store: &StoreArgs) -> Outcome {
    let console = store.open().await?;
    match command {
        DefenderImageCommand::Publish { repository } => {
            let published = console
                .settings()
                .publish_defender_image(&Actor::host(), repository.as_deref())
                .await?;
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
            if let Some(reference) = console.settings().defender_image().await? {
                println!("{reference}");
            }
        }
    }
    Ok(())
}

pub async fn api_tokens(command: ApiTokenCommand, store: &StoreArgs) -> Outcome {
    let console = store.open().await?;
    let tokens = console.api_tokens();
    match command {
        ApiTokenCommand::Create { role, label } => {
            let role = Role::parse(&role).map_err(palisade_console::Error::from)?;
            let created = tokens.create(&Actor::host(), role, &label).await?;
            eprintln!(
                "pipeline token {} ({role}): give it as Authorization: Bearer <token>; it is not shown again",
                created.id
            );
            println!("{}", created.token);
        }
        ApiTokenCommand::List => {
            for token in tokens.list().await? {
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
            tokens.revoke(&Actor::host(), id).await?;
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
    /// Revoke every active token of family F at once (its token leaked, or it is retired).
    RevokeFamily {
        #[arg(long)]
        family: String,
    },
}

pub async fn tokens(command: TokenCommand, store: &StoreArgs) -> Outcome {
    let console = store.open().await?;
    let tokens = console.defender_tokens();
    match command {
        TokenCommand::Create {
            family,
            label,
            secrets_manager,
        } => {
            let kept = if secrets_manager {
                TokenKept::SecretsManager
            } else {
                TokenKept::Shown
            };
            let new = tokens.create(&Actor::host(), &family, &label, kept).await?;
            let (id, family) = (new.created.id, &new.created.family);
            match new.secret_arn {
                Some(arn) => {
                    eprintln!("token {id} for family {family} is in Secrets Manager: give the task this ARN (protect --token-secret); its execution role needs secretsmanager:GetSecretValue on it");
                    println!("{arn}");
                }
                None => {
                    eprintln!("token {id} for family {family}: give it to the task as PALISADE_TOKEN (best from Secrets Manager or SSM); it is not shown again");
                    println!("{}", new.created.token);
                }
            }
        }
        TokenCommand::List => {
            for token in tokens.list().await? {
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{state}\t{}", token.id, token.family, token.label);
            }
        }
        TokenCommand::Revoke { id } => {
            tokens.revoke(&Actor::host(), id).await?;
            eprintln!("token {id} revoked");
        }
        TokenCommand::RevokeFamily { family } => {
            let revoked = tokens.revoke_family(&Actor::host(), &family).await?;
            eprintln!("{revoked} active tokens of family {family} revoked");
        }
    }
    Ok(())
}

pub async fn registries(command: RegistryCommand, store: &StoreArgs) -> Outcome {
    let console = store.open().await?;
    let registries = console.registries();
    match command {
        RegistryCommand::Set {
            host,
            username,
            password_ref,
            endpoint,
            credentials_to_endpoint,
        } => {
            let change = RegistryChange {
                username,
                password_ref,
                endpoint,
                credentials_to_endpoint,
            };
            registries.set(&Actor::host(), &host, &change).await?;
        }
        RegistryCommand::List => {
            let or_dash = |field: &Option<String>| field.clone().unwrap_or_else(|| "-".into());
            for settings in registries.list().await? {
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
        RegistryCommand::Remove { host } => registries.remove(&Actor::host(), &host).await?,
    }
    Ok(())
}

pub async fn defenders(status: &str, search: &str, json: bool, store: &StoreArgs) -> Outcome {
    let query = DefenderQuery::parse(status, search, "", 1, DefenderQuery::MAX_PER_PAGE)?;
    let console = store.open().await?;
    // The API's view: the JSON shape, and the words the dashboard uses. What defenders reported
    // reaches the terminal with its control characters escaped: JSON escapes of the same text,
    // or `\u{1b}`-style escapes in the table, where a raw newline would also forge a row.
    let list = DefenderList::from(console.defenders().list(&query).await?);
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
