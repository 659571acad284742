//! The pipeline commands: `protect`, `unprotect`, `register`, `import`, `resolve`. JSON on stdout,
//! what happened on stderr.

use super::{Failure, Outcome};
use crate::config::StoreArgs;
use clap::Args;
use palisade_console::aws::{ecs, Aws};
use palisade_console::generate::profile;
use palisade_console::images::{Images, Resolution};
use palisade_console::AwsSettings;
use palisade_taskdef::diff::unified;
use palisade_taskdef::protect::{describe, locate_problems};
use palisade_taskdef::template::{protect_template, unprotect_template};
use palisade_taskdef::validate::validate;
use palisade_taskdef::{
    normalize_text, protect_text, to_pretty, unprotect_text, ImageArgv, InputForm, Mode, Problem,
    ProblemKind, Profile, ProfileName, ProtectOptions, Rejected, TokenSource,
};
use palisade_types::protect::{DatadogOptions, ProfileOptions, SysdigOptions};
use std::io::Read;

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
    fn settings(&self) -> Result<AwsSettings, Failure> {
        let text = |field: &Option<String>| field.clone().unwrap_or_default();
        Ok(AwsSettings::parse(
            &text(&self.region),
            &text(&self.profile),
            &text(&self.endpoint_url),
        )?)
    }

    /// An ECS client with these settings over the standard chain.
    async fn client(&self) -> Result<aws_sdk_ecs::Client, Failure> {
        let client = Aws::default()
            .ecs(&self.settings()?)
            .await
            .map_err(palisade_console::Error::from)?;
        Ok(client)
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
    #[command(flatten)]
    pub vendor: VendorArgs,
}

/// Whose runtime security to install: the bundled defender, or a vendor's recipe.
#[derive(Debug, Args)]
pub struct VendorArgs {
    /// palisade (the bundled defender), datadog-cws or sysdig-serverless.
    #[arg(long, default_value = "palisade")]
    pub profile: String,
    /// datadog-cws: the Secrets Manager or SSM ARN of the Datadog API key (DD_API_KEY).
    #[arg(long)]
    pub datadog_api_key_secret: Option<String>,
    /// datadog-cws: the API key itself, written in plain `environment` (prefer the secret).
    #[arg(long, conflicts_with = "datadog_api_key_secret")]
    pub datadog_api_key: Option<String>,
    /// datadog-cws: the Datadog site (default datadoghq.com).
    #[arg(long)]
    pub datadog_site: Option<String>,
    /// datadog-cws: the agent image (default public.ecr.aws/datadog/agent:latest).
    #[arg(long)]
    pub datadog_agent_image: Option<String>,
    /// datadog-cws: the instrumentation image (default public.ecr.aws/datadog/cws-instrumentation:latest).
    #[arg(long)]
    pub datadog_cws_image: Option<String>,
    /// sysdig-serverless: the Secrets Manager or SSM ARN of the Sysdig access key.
    #[arg(long)]
    pub sysdig_access_key_secret: Option<String>,
    /// sysdig-serverless: the access key itself, written in plain `environment` (prefer the secret).
    #[arg(long, conflicts_with = "sysdig_access_key_secret")]
    pub sysdig_access_key: Option<String>,
    /// sysdig-serverless: HOST:PORT of the orchestrator agent (or collector).
    #[arg(long)]
    pub sysdig_collector: Option<String>,
    /// sysdig-serverless: availability (default) or security.
    #[arg(long)]
    pub sysdig_priority: Option<String>,
    /// sysdig-serverless: the workload agent image (default quay.io/sysdig/workload-agent:latest).
    #[arg(long)]
    pub sysdig_image: Option<String>,
}

impl VendorArgs {
    /// The profile these flags describe, read like every front end's (the console's
    /// [`profile`]), plus a vendor's key given plain: the CLI keeps nothing, so it may take one
    /// (the generator warns). A flag of another profile's is refused by its name.
    pub fn profile(&self) -> Result<Profile, String> {
        let name: ProfileName = self.profile.trim().parse()?;
        let datadog = [
            ("--datadog-api-key-secret", &self.datadog_api_key_secret),
            ("--datadog-api-key", &self.datadog_api_key),
            ("--datadog-site", &self.datadog_site),
            ("--datadog-agent-image", &self.datadog_agent_image),
            ("--datadog-cws-image", &self.datadog_cws_image),
        ];
        let sysdig = [
            ("--sysdig-access-key-secret", &self.sysdig_access_key_secret),
            ("--sysdig-access-key", &self.sysdig_access_key),
            ("--sysdig-collector", &self.sysdig_collector),
            ("--sysdig-priority", &self.sysdig_priority),
            ("--sysdig-image", &self.sysdig_image),
        ];
        let others: Vec<_> = match name {
            ProfileName::Palisade => datadog.iter().chain(&sysdig).collect(),
            ProfileName::DatadogCws => sysdig.iter().collect(),
            ProfileName::SysdigServerless => datadog.iter().collect(),
        };
        let stray: Vec<&str> = others
            .into_iter()
            .filter(|(_, value)| value.is_some())
            .map(|(flag, _)| *flag)
            .collect();
        if !stray.is_empty() {
            return Err(format!(
                "{} do not apply to --profile {name} (choose the profile they belong to)",
                stray.join(", ")
            ));
        }
        let options = match name {
            ProfileName::Palisade => ProfileOptions::Palisade,
            ProfileName::DatadogCws => ProfileOptions::DatadogCws(DatadogOptions {
                api_key_secret: self.datadog_api_key_secret.clone(),
                site: self.datadog_site.clone(),
                agent_image: self.datadog_agent_image.clone(),
                cws_image: self.datadog_cws_image.clone(),
            }),
            ProfileName::SysdigServerless => ProfileOptions::SysdigServerless(SysdigOptions {
                access_key_secret: self.sysdig_access_key_secret.clone(),
                collector: self.sysdig_collector.clone(),
                priority: self.sysdig_priority.clone(),
                image: self.sysdig_image.clone(),
            }),
        };
        let mut profile = profile(options)?;
        let plain = |key: &Option<String>| key.clone().map(TokenSource::Plain);
        match &mut profile {
            Profile::DatadogCws(datadog) if self.datadog_api_key.is_some() => {
                datadog.api_key = plain(&self.datadog_api_key)
            }
            Profile::SysdigServerless(sysdig) if self.sysdig_access_key.is_some() => {
                sysdig.access_key = plain(&self.sysdig_access_key)
            }
            _ => {}
        }
        Ok(profile)
    }
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
    /// The options, or which of the profile's settings is wrong.
    pub fn options(&self) -> Result<ProtectOptions, Rejected> {
        let profile = self
            .vendor
            .profile()
            .map_err(|message| Rejected::one(Problem::of_options(message)))?;
        Ok(ProtectOptions {
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
            profile,
        })
    }
}

pub async fn protect(args: ProtectArgs, store: &StoreArgs) -> Outcome {
    let text = read_input(args.file.as_deref())?;
    let mut options = args.options()?;
    let console = store.open_if_given().await?;
    let bundled = options.profile == Profile::Palisade;
    if let (Some(console), None, true) = (&console, &options.defender_image, bundled) {
        // The image the console published, as its Generate uses.
        options.defender_image = console.settings().defender_image().await?;
    }
    if !args.no_resolve {
        let aws = Aws::default();
        let images = match &console {
            Some(console) => console.images(),
            None => Images::without_database(&aws),
        };
        let resolutions = images.resolve_missing(&text, &mut options).await?;
        say_where_entrypoints_came_from(&resolutions);
    }
    if let Some(template) = protect_template(&text, &options)? {
        // A CloudFormation template: each task definition resource protected in place.
        if args.summary {
            eprintln!("{}", template.describe());
        } else {
            for warning in template.warnings() {
                eprintln!("warning: {warning}");
            }
        }
        if args.diff {
            eprint!(
                "{}",
                unified(
                    &template.normalized,
                    &template.output,
                    "template",
                    "protected"
                )
            );
        }
        print!("{}", template.output);
        return Ok(());
    }
    let protected = protect_text(&text, &options)?;
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
    Ok(())
}

/// Says on stderr where each looked-up entrypoint came from, or why it could not be read.
fn say_where_entrypoints_came_from(resolutions: &[Resolution]) {
    for resolution in resolutions {
        match &resolution.result {
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

pub fn unprotect(file: Option<&str>) -> Outcome {
    let text = read_input(file)?;
    if let Some((template, was_protected)) = unprotect_template(&text)? {
        if !was_protected {
            eprintln!("note: no task definition of the template carried a Palisade protection");
        }
        print!("{template}");
        return Ok(());
    }
    let unprotected = unprotect_text(&text)?;
    if !unprotected.was_protected {
        eprintln!("note: the input carried no Palisade protection; printed it normalized");
    }
    print!("{}", to_pretty(&unprotected.output));
    Ok(())
}

pub async fn register(file: Option<&str>, ecs_args: EcsArgs) -> Outcome {
    let task = registrable(&read_input(file)?)?;
    let registered = ecs::register(&ecs_args.client().await?, &task).await?;
    println!("{}", registered.arn);
    Ok(())
}

pub async fn import(task_definition: &str, ecs_args: EcsArgs) -> Outcome {
    let described = ecs::describe(&ecs_args.client().await?, task_definition).await?;
    print!("{}", to_pretty(&described));
    Ok(())
}

pub async fn resolve(image: &str, platform: &str, store: &StoreArgs) -> Outcome {
    let console = store.open_if_given().await?;
    let aws = Aws::default();
    let images = match &console {
        Some(console) => console.images(),
        None => Images::without_database(&aws),
    };
    let config = images
        .resolve(image, platform)
        .await?
        .map_err(|error| Failure::Other(error.into()))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&config).map_err(anyhow::Error::from)?
    );
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
    let problems = validate(normalized.form, &normalized.task);
    if !problems.is_empty() {
        let mut rejected = Rejected { problems };
        locate_problems(text, normalized.form, &mut rejected);
        return Err(rejected);
    }
    Ok(normalized.task)
}

fn read_input(file: Option<&str>) -> Result<String, Failure> {
    let bytes = match file {
        None | Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|error| Failure::Read(format!("reading stdin: {error}")))?;
            bytes
        }
        Some(path) => std::fs::read(path)
            .map_err(|error| Failure::Read(format!("reading {path}: {error}")))?,
    };
    String::from_utf8(bytes).map_err(|error| {
        Failure::Read(format!(
            "the input is not UTF-8 text (byte {})",
            error.utf8_error().valid_up_to()
        ))
    })
}
