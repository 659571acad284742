//! The `palisade` command line: `serve` runs the console; `protect`, `unprotect`, `register`,
//! `import` and `resolve` work in pipelines (JSON on stdout, problems on stderr); `token`,
//! `registry`, `defender-image` and `defenders` manage the console's database. One tokio runtime serves every
//! command, and the exit code is decided in one place ([`Failure::exit_code`]).

mod admin;
mod serve;
mod taskdef;

use clap::{Parser, Subcommand};
use palisade_console::text::error_chain;
use std::process::ExitCode;

pub use admin::{
    ApiTokenCommand, DefenderImageCommand, RegistryCommand, TokenCommand, UserCommand,
};
pub use taskdef::{EcsArgs, ProtectArgs};

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
    Protect(Box<ProtectArgs>),
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
    /// The defender image this console publishes (to ECR or a registry it has credentials for).
    #[command(subcommand, name = "defender-image")]
    DefenderImage(DefenderImageCommand),
    /// Credentials of private registries for reading image configs, in the console's database.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Defender tokens (one family each), in the console's database (PALISADE_DATABASE_URL).
    #[command(subcommand)]
    Token(TokenCommand),
    /// People's accounts (PALISADE_DATABASE_URL). Passwords are read from stdin.
    #[command(subcommand)]
    User(UserCommand),
    /// Pipeline tokens: bearer tokens with a role, for CI and scripts.
    #[command(subcommand, name = "api-token")]
    ApiToken(ApiTokenCommand),
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

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The input could not be read (a missing file, stdin not UTF-8).
    Read(String),
    /// What the console answered: a refused task definition, AWS, the database...
    Console(palisade_console::Error),
    /// Anything else, with what was being done.
    Other(anyhow::Error),
}

impl From<palisade_console::Error> for Failure {
    fn from(error: palisade_console::Error) -> Self {
        Failure::Console(error)
    }
}

impl From<palisade_taskdef::Rejected> for Failure {
    fn from(rejected: palisade_taskdef::Rejected) -> Self {
        Failure::Console(rejected.into())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Other(error)
    }
}

impl Failure {
    /// 2 when the input was bad (it could not be read, or the task definition was refused: a
    /// pipeline should not retry it), 1 for every other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Read(_) => 2,
            Failure::Console(error) if !error.problems().is_empty() => 2,
            Failure::Console(_) | Failure::Other(_) => 1,
        }
    }

    /// Says on stderr what failed. The person at the terminal runs the console, so an internal
    /// error is shown whole.
    fn report(&self, command: &str) {
        match self {
            Failure::Read(message) => eprintln!("palisade {command}: {message}"),
            Failure::Console(error) if !error.problems().is_empty() => {
                eprintln!("palisade {command}: the task definition was not {command}ed:");
                for problem in error.problems() {
                    eprintln!("  {problem}");
                }
            }
            Failure::Console(error) => eprintln!("palisade {command}: {}", error_chain(error)),
            Failure::Other(error) => eprintln!("palisade {command}: {error:#}"),
        }
    }
}

/// What a command answers.
pub type Outcome = Result<(), Failure>;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let name = command_name(&cli.command);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("palisade {name}: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(name);
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn run(command: Command) -> Outcome {
    match command {
        Command::Serve => serve::serve().await,
        Command::Protect(args) => taskdef::protect(*args).await,
        Command::Unprotect { file } => taskdef::unprotect(file.as_deref()),
        Command::Register { file, ecs } => taskdef::register(file.as_deref(), ecs).await,
        Command::Import {
            task_definition,
            ecs,
        } => taskdef::import(&task_definition, ecs).await,
        Command::Resolve { image, platform } => taskdef::resolve(&image, &platform).await,
        Command::Token(command) => admin::tokens(command).await,
        Command::User(command) => admin::users(command).await,
        Command::ApiToken(command) => admin::api_tokens(command).await,
        Command::Registry(command) => admin::registries(command).await,
        Command::DefenderImage(command) => admin::defender_image(command).await,
        Command::Defenders {
            json,
            status,
            search,
        } => admin::defenders(&status, &search, json).await,
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Serve => "serve",
        Command::Protect(_) => "protect",
        Command::Unprotect { .. } => "unprotect",
        Command::Register { .. } => "register",
        Command::Import { .. } => "import",
        Command::Resolve { .. } => "resolve",
        Command::Registry(_) => "registry",
        Command::DefenderImage(_) => "defender-image",
        Command::Token(_) => "token",
        Command::User(_) => "user",
        Command::ApiToken(_) => "api-token",
        Command::Defenders { .. } => "defenders",
    }
}

/// The console's database (`PALISADE_DATABASE_URL`, default `sqlite://palisade.db`), created and
/// migrated when missing.
async fn open_console() -> Result<palisade_console::Console, Failure> {
    let config = crate::Config::from_env()?;
    let console = palisade_console::Console::open(&config.database_url).await?;
    Ok(console.with_deployment(config.deployment))
}

/// The console's database only when `PALISADE_DATABASE_URL` names one: its registry settings and
/// image cache then serve the command line too. A URL that is set but cannot be opened is an error.
async fn console_if_configured() -> Result<Option<palisade_console::Console>, Failure> {
    match std::env::var("PALISADE_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let console = palisade_console::Console::open(url.trim()).await?;
            let deployment = crate::config::deployment_from_env()?;
            Ok(Some(console.with_deployment(deployment)))
        }
        _ => Ok(None),
    }
}
