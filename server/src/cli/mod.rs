//! The `palisade` command line: `serve` runs the console; `protect`, `unprotect`, `register`,
//! `import` and `resolve` work in pipelines (JSON on stdout, problems on stderr); `token`,
//! `registry`, `defender-image` and `defenders` manage the console's database. One tokio runtime serves every
//! command, and the exit code is decided in one place ([`Failure::exit_code`]).

mod admin;
mod serve;
mod taskdef;

use crate::config::StoreArgs;
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
    #[command(flatten)]
    pub store: crate::config::StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the console. Every setting is a flag and an environment variable (the flag wins).
    Serve(Box<crate::config::ServeArgs>),
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
    crate::config::ignore_blank_variables(&<Cli as clap::CommandFactory>::command());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let from = variable_behind(&error);
            let _ = error.print();
            if let Some(variable) = from {
                eprintln!("(that value is the environment variable {variable}'s)");
            }
            // 0 for --help and --version, 2 for a usage error.
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let name = command_name(&cli.command);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("palisade {name}: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, cli.store)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(name);
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn run(command: Command, store: StoreArgs) -> Outcome {
    match command {
        Command::Serve(args) => serve::serve(&args, &store).await,
        Command::Protect(args) => taskdef::protect(*args, &store).await,
        Command::Unprotect { file } => taskdef::unprotect(file.as_deref()),
        Command::Register { file, ecs } => taskdef::register(file.as_deref(), ecs).await,
        Command::Import {
            task_definition,
            ecs,
        } => taskdef::import(&task_definition, ecs).await,
        Command::Resolve { image, platform } => taskdef::resolve(&image, &platform, &store).await,
        Command::Token(command) => admin::tokens(command, &store).await,
        Command::User(command) => admin::users(command, &store).await,
        Command::ApiToken(command) => admin::api_tokens(command, &store).await,
        Command::Registry(command) => admin::registries(command, &store).await,
        Command::DefenderImage(command) => admin::defender_image(command, &store).await,
        Command::Defenders {
            json,
            status,
            search,
        } => admin::defenders(&status, &search, json, &store).await,
    }
}

/// The environment variable a refused value came from, when it came from one: clap's message
/// names the flag, but a deployment sets variables.
fn variable_behind(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
    let typed = std::env::args()
        .any(|arg| arg == format!("--{long}") || arg.starts_with(&format!("--{long}=")));
    if typed {
        return None;
    }
    use clap::CommandFactory;
    let mut variable = None;
    crate::config::each_arg(&Cli::command(), &mut |arg| {
        if variable.is_none() && arg.get_long() == Some(long) {
            variable = arg
                .get_env()
                .map(|name| name.to_string_lossy().into_owned());
        }
    });
    variable.filter(|name| std::env::var_os(name).is_some())
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Serve(_) => "serve",
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::collections::{BTreeMap, BTreeSet};

    /// Every environment variable of the command line (hidden fallbacks aside), with its default.
    fn settings(command: &clap::Command) -> BTreeMap<String, Option<String>> {
        let mut found = BTreeMap::new();
        crate::config::each_arg(command, &mut |arg| {
            if let (Some(name), false) = (arg.get_env(), arg.is_hide_set()) {
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|value| value.to_string_lossy().into_owned());
                found.insert(name.to_string_lossy().into_owned(), default);
            }
        });
        found
    }

    /// The table's rows: the variables each names, and its default cell.
    fn table(page: &str) -> Vec<(Vec<String>, String)> {
        page.lines()
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.split(" | ").collect();
                let names = cells[0]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect();
                (names, cells.get(1).copied().unwrap_or_default().to_owned())
            })
            .collect()
    }

    #[test]
    fn the_configuration_page_lists_every_setting_with_its_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let page = std::fs::read_to_string(path).unwrap();
        let rows = table(&page);
        let found = settings(&Cli::command());
        assert!(found.len() > 30, "{found:?}");
        for (name, default) in &found {
            let row = rows.iter().find(|(names, _)| names.contains(name));
            let Some((_, documented)) = row else {
                panic!("{name} is a setting (`palisade serve --help`) but docs/configuration.md has no row for it")
            };
            if let Some(default) = default {
                assert!(
                    documented.contains(&format!("`{default}`")),
                    "{name}: docs/configuration.md says its default is {documented}, the command line {default}"
                );
            }
        }
        let documented: BTreeSet<&String> = rows.iter().flat_map(|(names, _)| names).collect();
        for name in documented {
            let elsewhere = name.ends_with('*') || name == "RUST_LOG";
            assert!(
                elsewhere || found.contains_key(name.as_str()),
                "docs/configuration.md lists {name}, which no command reads"
            );
        }
    }

    #[test]
    fn the_admin_password_never_prints() {
        let args = Cli::try_parse_from([
            "palisade",
            "serve",
            "--admin-password",
            "correct horse battery",
        ])
        .unwrap();
        assert!(!format!("{args:?}").contains("horse"));
        let help = Cli::command()
            .find_subcommand_mut("serve")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("PALISADE_ADMIN_PASSWORD"), "{help}");
    }
}
