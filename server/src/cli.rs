//! The `palisade` command line: `serve` runs the console; `protect` and `unprotect` work in
//! pipelines (JSON on stdout, problems on stderr, exit 2 for bad input).

use crate::ecs::{EcsError, EcsSettings};
use crate::Config;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use palisade_app::defenders::{human_duration, store, DefenderFilter};
use palisade_taskdef::diff::unified;
use palisade_taskdef::protect::describe;
use palisade_taskdef::protect::locate_problems;
use palisade_taskdef::validate::validate;
use palisade_taskdef::{
    normalize_text, protect_text, to_pretty, unprotect_text, ImageArgv, InputForm, Mode, Problem,
    ProblemKind, ProtectOptions, Rejected, TokenSource,
};
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "palisade",
    version,
    about = "Protect AWS ECS task definitions with the Palisade defender"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the console (PALISADE_ADDR, PALISADE_DATABASE_URL, PALISADE_SITE_ROOT).
    Serve,
    /// Print the protected task definition on stdout.
    Protect(ProtectArgs),
    /// Print the task definition without its Palisade protection.
    Unprotect {
        /// The task definition file; `-` or nothing reads stdin.
        file: Option<String>,
    },
    /// Register a task definition (e.g. `palisade protect ... | palisade register -`) as a new
    /// ECS revision; prints its ARN.
    Register {
        /// The task definition file; `-` or nothing reads stdin.
        file: Option<String>,
        #[command(flatten)]
        ecs: EcsArgs,
    },
    /// Print DescribeTaskDefinition output (with tags) of FAMILY, FAMILY:REVISION or an ARN.
    Import {
        #[arg(value_name = "FAMILY[:REVISION]")]
        task_definition: String,
        #[command(flatten)]
        ecs: EcsArgs,
    },
    /// Print what an image runs (ENTRYPOINT, CMD, digest), read from its registry.
    Resolve {
        image: String,
        /// The platform to pick from a multi-arch image.
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
    },
    /// Credentials of private registries for reading image configs, in the console's database.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Defender tokens (one family each), in the console's database (PALISADE_DATABASE_URL).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The defenders the console knows, with their status (PALISADE_DATABASE_URL).
    Defenders {
        /// The whole list as JSON (the API's shape).
        #[arg(long)]
        json: bool,
        /// Only `connected` or `disconnected` ones.
        #[arg(long, default_value = "")]
        status: String,
        /// Only those whose family, cluster, task, AZ or containers contain this.
        #[arg(long, default_value = "")]
        search: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// How to reach HOST: credentials (USER and the password found at REF, env:NAME or
    /// file:/path), an endpoint to reach it at, or both. ECR hosts need neither: their login comes
    /// from the AWS chain.
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
    },
    /// The registries with settings (never a password).
    List,
    Remove {
        host: String,
    },
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

/// Where ECS is; unset means the AWS SDK's standard chain (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_ECS...).
#[derive(Debug, Args)]
pub struct EcsArgs {
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub profile: Option<String>,
    /// An ECS-compatible endpoint (a local test server, a VPC endpoint).
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

impl EcsArgs {
    fn settings(&self) -> EcsSettings {
        EcsSettings {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ProtectArgs {
    /// The task definition file; `-` or nothing reads stdin.
    pub file: Option<String>,
    /// availability: the app starts whether or not the console is reachable; security: it waits for it.
    #[arg(long, default_value = "availability")]
    pub mode: Mode,
    /// The URL running defenders dial (this console, as the task reaches it).
    #[arg(long, env = "PALISADE_CONSOLE_URL")]
    pub console_url: Option<String>,
    /// A defender token, written in plain `environment` (prefer --token-secret).
    #[arg(long, conflicts_with = "token_secret")]
    pub token: Option<String>,
    /// A Secrets Manager or SSM parameter ARN holding the defender token.
    #[arg(long)]
    pub token_secret: Option<String>,
    /// Protect this container even though it is skipped by default (FireLens, mesh proxy).
    #[arg(long = "include", value_name = "NAME")]
    pub include: Vec<String>,
    /// Leave this container unprotected.
    #[arg(long = "exclude", value_name = "NAME")]
    pub exclude: Vec<String>,
    /// The image argv of a container without entryPoint: NAME=["/entrypoint.sh","serve"]
    /// or NAME={"entryPoint":[...],"command":[...]}.
    #[arg(long = "entrypoint", value_name = "NAME=JSON", value_parser = parse_entrypoint)]
    pub entrypoints: Vec<(String, ImageArgv)>,
    /// The defender image.
    #[arg(long)]
    pub defender_image: Option<String>,
    /// Print the summary of changes (and warnings) on stderr.
    #[arg(long)]
    pub summary: bool,
    /// Print a unified diff of the normalized input against the result on stderr.
    #[arg(long)]
    pub diff: bool,
    /// Do not read missing entrypoints from the image registry.
    #[arg(long)]
    pub no_resolve: bool,
}

fn parse_entrypoint(text: &str) -> Result<(String, ImageArgv), String> {
    let (name, json) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=JSON_ARRAY, got `{text}`"))?;
    let argv =
        ImageArgv::from_json(json).map_err(|error| format!("--entrypoint {name}: {error}"))?;
    Ok((name.to_owned(), argv))
}

impl ProtectArgs {
    pub fn options(&self) -> ProtectOptions {
        ProtectOptions {
            mode: self.mode,
            console_url: self.console_url.clone(),
            token: match (&self.token, &self.token_secret) {
                (Some(token), _) => Some(TokenSource::Plain(token.clone())),
                (None, Some(arn)) => Some(TokenSource::Secret(arn.clone())),
                (None, None) => None,
            },
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            image_argv: self.entrypoints.iter().cloned().collect(),
            defender_image: self.defender_image.clone(),
        }
    }
}

/// Exit code for input Palisade refuses (usage errors are clap's 2 as well).
const BAD_INPUT: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve => match serve_from_env() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("palisade serve: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Protect(args) => {
            let result = read_input(args.file.as_deref()).and_then(|text| {
                let mut options = args.options();
                if !args.no_resolve {
                    resolve_entrypoints(&text, &mut options);
                }
                protect_text(&text, &options).map_err(InputError::Rejected)
            });
            match result {
                Ok(protected) => {
                    if args.summary {
                        eprintln!("{}", describe(&protected));
                    } else {
                        for warning in &protected.warnings {
                            eprintln!("warning: {warning}");
                        }
                    }
                    let output = to_pretty(&protected.output);
                    if args.diff {
                        eprint!(
                            "{}",
                            unified(
                                &to_pretty(&protected.normalized),
                                &output,
                                "normalized",
                                "protected"
                            )
                        );
                    }
                    print!("{output}");
                    ExitCode::SUCCESS
                }
                Err(error) => error.report("protect"),
            }
        }
        Command::Unprotect { file } => {
            let result = read_input(file.as_deref())
                .and_then(|text| unprotect_text(&text).map_err(InputError::Rejected));
            match result {
                Ok(unprotected) => {
                    if !unprotected.was_protected {
                        eprintln!(
                            "note: the input carried no Palisade protection; printed it normalized"
                        );
                    }
                    print!("{}", to_pretty(&unprotected.output));
                    ExitCode::SUCCESS
                }
                Err(error) => error.report("unprotect"),
            }
        }
        Command::Register { file, ecs } => {
            let task = match read_input(file.as_deref())
                .and_then(|text| registrable(&text).map_err(InputError::Rejected))
            {
                Ok(task) => task,
                Err(error) => return error.report("register"),
            };
            match run_async(async move {
                let client = crate::ecs::client(&ecs.settings()).await?;
                crate::ecs::register(&client, &task).await
            }) {
                Ok(registered) => {
                    println!("{}", registered.arn);
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("palisade register: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Import {
            task_definition,
            ecs,
        } => match run_async(async move {
            let client = crate::ecs::client(&ecs.settings()).await?;
            crate::ecs::describe(&client, &task_definition).await
        }) {
            Ok(described) => {
                print!("{}", to_pretty(&described));
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("palisade import: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Resolve { image, platform } => {
            let found = tokio::runtime::Runtime::new()
                .map_err(|error| error.to_string())
                .and_then(|runtime| {
                    runtime
                        .block_on(async {
                            let pool = console_database().await;
                            palisade_app::images::resolve(pool.as_ref(), &image, &platform).await
                        })
                        .map_err(|error| error.to_string())
                });
            match found {
                Ok(config) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&config).unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("palisade resolve: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Token(command) => report(database_command(|pool| tokens(pool, command))),
        Command::Registry(command) => report(database_command(|pool| registries(pool, command))),
        Command::Defenders {
            json,
            status,
            search,
        } => {
            let filter = DefenderFilter {
                status,
                q: search,
                page: 1,
                per_page: 500,
                ..DefenderFilter::default()
            };
            report(database_command(|pool| defenders(pool, filter, json)))
        }
    }
}

/// The console's database when PALISADE_DATABASE_URL names one: its registry credentials and
/// image cache serve the command line too.
async fn console_database() -> Option<sqlx::SqlitePool> {
    let url = std::env::var("PALISADE_DATABASE_URL").ok()?;
    crate::db::connect(&url).await.ok()
}

/// Reads the argv of containers without `entryPoint` from their images (all at once), and says
/// on stderr where each came from or why it could not be read.
fn resolve_entrypoints(text: &str, options: &mut ProtectOptions) {
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return;
    };
    let resolutions = runtime.block_on(async {
        let pool = console_database().await;
        palisade_app::images::resolve_missing(pool.as_ref(), text, options).await
    });
    for resolution in resolutions {
        match resolution.result {
            Ok(config) => eprintln!(
                "entrypoint of `{}` from image {}",
                resolution.container,
                config.pinned()
            ),
            Err(reason) => eprintln!(
                "could not read the entrypoint of `{}` from its image: {reason}",
                resolution.container
            ),
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("palisade: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `work` against the console's database (created and migrated when missing).
fn database_command<F, Fut>(work: F) -> anyhow::Result<()>
where
    F: FnOnce(sqlx::SqlitePool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = Config::from_env()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let pool = crate::db::connect(&config.database_url).await?;
        work(pool).await
    })
}

async fn tokens(pool: sqlx::SqlitePool, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            family,
            label,
            secrets_manager,
        } => {
            let created = store::create_token(&pool, &family, &label)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            if secrets_manager {
                let settings = palisade_app::registrations::load_settings(&pool).await?;
                match palisade_app::secrets::store_token(&settings, &family, &created.token).await {
                    Ok(arn) => {
                        eprintln!("token {} for family {family} is in Secrets Manager: give the task this ARN (protect --token-secret); its execution role needs secretsmanager:GetSecretValue on it", created.id);
                        println!("{arn}");
                    }
                    Err(reason) => {
                        store::revoke_token(&pool, created.id).await?;
                        anyhow::bail!("the token could not be stored in Secrets Manager ({reason}); it was revoked");
                    }
                }
            } else {
                eprintln!("token {} for family {}: give it to the task as PALISADE_TOKEN (best from Secrets Manager or SSM); it is not shown again", created.id, created.family);
                println!("{}", created.token);
            }
        }
        TokenCommand::List => {
            for token in store::list_tokens(&pool).await? {
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{state}\t{}", token.id, token.family, token.label);
            }
        }
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(
                store::revoke_token(&pool, id).await?,
                "there is no active token {id}"
            );
            eprintln!("token {id} revoked");
        }
    }
    Ok(())
}

async fn registries(pool: sqlx::SqlitePool, command: RegistryCommand) -> anyhow::Result<()> {
    use palisade_app::images::registries::{check, list, remove, save, RegistrySettings};
    match command {
        RegistryCommand::Set {
            host,
            username,
            password_ref,
            endpoint,
        } => {
            let settings = RegistrySettings {
                registry: host,
                username,
                password_ref,
                endpoint,
            }
            .normalized();
            check(&settings).map_err(anyhow::Error::msg)?;
            save(&pool, &settings).await?;
        }
        RegistryCommand::List => {
            let or_dash = |field: &Option<String>| field.clone().unwrap_or_else(|| "-".into());
            for settings in list(&pool).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    settings.registry,
                    or_dash(&settings.username),
                    or_dash(&settings.password_ref),
                    or_dash(&settings.endpoint)
                );
            }
        }
        RegistryCommand::Remove { host } => {
            anyhow::ensure!(remove(&pool, &host).await?, "no settings for {host}");
        }
    }
    Ok(())
}

async fn defenders(
    pool: sqlx::SqlitePool,
    filter: DefenderFilter,
    json: bool,
) -> anyhow::Result<()> {
    store::check_filter(&filter).map_err(anyhow::Error::msg)?;
    let list = store::list(&pool, &filter).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
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
            defender.status,
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

/// The task definition to register: normalized (describe output works too) and valid, or the
/// problems that would make ECS refuse it.
pub fn registrable(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, Rejected> {
    let normalized = normalize_text(text)?;
    if normalized.form == InputForm::ContainerDefinitions {
        return Err(Rejected::one(
            Problem::at(
                ProblemKind::NotATaskDefinition,
                "",
                "a containerDefinitions array cannot be registered on its own",
            )
            .with_hint("register the whole task definition (family, containerDefinitions, ...)"),
        ));
    }
    let mut problems = validate(normalized.form, &normalized.task);
    if !problems.is_empty() {
        let mut rejected = Rejected {
            problems: std::mem::take(&mut problems),
        };
        locate_problems(text, normalized.form, &mut rejected);
        return Err(rejected);
    }
    Ok(normalized.task)
}

fn run_async<T>(
    work: impl std::future::Future<Output = Result<T, EcsError>>,
) -> Result<T, EcsError> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|error| EcsError::Other(format!("starting the async runtime: {error}")))?;
    runtime.block_on(work)
}

enum InputError {
    Read(String),
    Rejected(Rejected),
}

impl InputError {
    fn report(self, command: &str) -> ExitCode {
        match self {
            InputError::Read(message) => eprintln!("palisade {command}: {message}"),
            InputError::Rejected(rejected) => {
                eprintln!("palisade {command}: the task definition was not {command}ed:");
                for problem in &rejected.problems {
                    eprintln!("  {problem}");
                }
            }
        }
        ExitCode::from(BAD_INPUT)
    }
}

fn read_input(file: Option<&str>) -> Result<String, InputError> {
    let mut bytes = Vec::new();
    match file {
        None | Some("-") => std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|error| InputError::Read(format!("reading stdin: {error}")))?,
        Some(path) => {
            bytes = std::fs::read(path)
                .map_err(|error| InputError::Read(format!("reading {path}: {error}")))?;
            bytes.len()
        }
    };
    String::from_utf8(bytes).map_err(|error| {
        InputError::Read(format!(
            "the input is not UTF-8 text (byte {})",
            error.utf8_error().valid_up_to()
        ))
    })
}

fn serve_from_env() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::from_env()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let pool = crate::db::connect(&config.database_url).await?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        crate::serve(listener, &config, pool, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
