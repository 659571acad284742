//! Generate, as the console does it around the pure generator: missing entrypoints read from
//! image registries first, a defender token created for the family when asked (embedded, or kept
//! in Secrets Manager), the generator run off the async runtime, and a successful result recorded
//! in the history.

mod options;

pub use options::profile;

use crate::aws::secrets;
use crate::defenders::tokens;
use crate::error::Result;
use crate::generations::{self, NewGeneration};
use crate::images::Resolution;
use crate::Console;
use palisade_taskdef::protect::{plan_text, ContainerPlan, ImageArgv};
use palisade_taskdef::template::{protect_template_cancellable, ProtectedTemplate};
use palisade_taskdef::{
    protect_text_cancellable, Problem, ProblemKind, ProtectOptions, Protected, Rejected,
    TokenSource,
};

/// Where the defender's token comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TokenChoice {
    /// No token: the task gets `PALISADE_TOKEN` some other way.
    #[default]
    None,
    /// A token (written into `environment`) or the ARN of a secret holding one, given by the user.
    Given(TokenSource),
    /// The console creates a token for the task's family and puts it where `home` says.
    Create(TokenHome),
}

/// Where a token the console creates goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenHome {
    /// Embedded in the task definition's `environment`.
    TaskDefinition,
    /// Stored in Secrets Manager; the task definition gets the secret's ARN.
    SecretsManager,
}

/// What the user asks Generate for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenerateRequest {
    /// The pasted text (so problems can name line and column).
    pub input: String,
    /// Everything but the token (its `token` is ignored: see `token`).
    pub options: ProtectOptions,
    pub token: TokenChoice,
    /// Read missing entrypoints from the image registries.
    pub resolve: bool,
}

/// A generation: protected, or refused with every problem. Never neither.
#[derive(Clone, Debug, PartialEq)]
pub enum GenerationResult {
    Generated {
        /// Its id in the history; `None` when it could not be recorded (a note says so).
        id: Option<i64>,
        protected: Box<Protected>,
    },
    Refused {
        rejected: Rejected,
        /// The containers and what they need, to fix the refusal (empty when the input does not
        /// parse).
        plan: Vec<ContainerPlan>,
    },
    /// A CloudFormation template, every task definition resource protected in place. Not in
    /// the history and not registrable (CloudFormation deploys it).
    Template(Box<ProtectedTemplate>),
}

/// The result and what the console did around it.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub result: GenerationResult,
    /// Entrypoints looked up in image registries.
    pub resolutions: Vec<Resolution>,
    /// Containers whose image argv the user gave (they were not looked up).
    pub given_argv: Vec<String>,
    /// What the console did besides generating (a token created and where it went).
    pub notes: Vec<String>,
}

/// A refusal of the options, not of the input.
fn option_problem(message: String) -> Rejected {
    Rejected::one(Problem::of_options(message))
}

/// Reads `["a", "b"]` or `{"entryPoint": [...], "command": [...]}` as container `name`'s image
/// argv, or says what is wrong with it as a problem of the options.
pub fn image_argv(name: &str, json: &str) -> Result<ImageArgv, Rejected> {
    ImageArgv::from_json(json)
        .map_err(|error| option_problem(format!("entrypoint of `{name}`: {error}")))
}

/// The generator, off the async runtime and cancellable ([`Console::heavy`]: it is CPU work,
/// up to milliseconds for big inputs).
async fn protect(
    console: &Console,
    input: &str,
    options: &ProtectOptions,
) -> Result<Result<Protected, Rejected>> {
    let (input, options) = (input.to_owned(), options.clone());
    console
        .heavy("running the generator", move |cancel| {
            protect_text_cancellable(&input, &options, cancel)
        })
        .await
}

impl Console {
    /// Generates a protected task definition as `request` asks and records it in the history
    /// (the use-case, audited, is [`crate::use_cases::Generations::generate`]).
    #[tracing::instrument(skip_all)]
    pub(crate) async fn generate(&self, request: GenerateRequest) -> Result<Generation> {
        let GenerateRequest {
            input,
            options: chosen,
            token,
            resolve,
        } = request;
        let given_argv = chosen.image_argv.keys().cloned().collect();
        let mut options = chosen.clone();
        let token = self.choose_defender(&mut options, token).await?;
        if let Some(generation) = self.generate_template(&input, &options, &token).await? {
            return Ok(generation);
        }
        let resolutions = if resolve {
            self.images().resolve_missing(&input, &mut options).await?
        } else {
            Vec::new()
        };
        let mut notes = Vec::new();
        let outcome = self
            .protect_with_token(&input, &mut options, token, &mut notes)
            .await?;
        let result = match outcome {
            Ok(protected) => {
                let kept = ProtectOptions {
                    token: options.token.clone(),
                    ..chosen
                };
                self.record_generated(&input, &kept, protected, &resolutions, &mut notes)
                    .await
            }
            Err(rejected) => refused(rejected, &input, &options, &resolutions),
        };
        Ok(Generation {
            result,
            resolutions,
            given_argv,
            notes,
        })
    }

    /// The token choice that stands, and the defender's image filled in, as the profile allows.
    async fn choose_defender(
        &self,
        options: &mut ProtectOptions,
        token: TokenChoice,
    ) -> Result<TokenChoice> {
        // A vendor's profile installs no Palisade defender: no defender token or image.
        let bundled = options.profile == palisade_taskdef::Profile::Palisade;
        let token = if bundled { token } else { TokenChoice::None };
        if bundled
            && options
                .defender_image
                .as_deref()
                .is_none_or(|image| image.trim().is_empty())
        {
            // The image this console published, unless the user named one.
            options.defender_image = self.defender_image().await?;
        }
        Ok(token)
    }

    /// The generator run with the token `token` says: none, the user's, or one created now.
    async fn protect_with_token(
        &self,
        input: &str,
        options: &mut ProtectOptions,
        token: TokenChoice,
        notes: &mut Vec<String>,
    ) -> Result<Result<Protected, Rejected>> {
        match token {
            TokenChoice::None => {
                options.token = None;
                protect(self, input, options).await
            }
            TokenChoice::Given(source) => {
                options.token = Some(source);
                protect(self, input, options).await
            }
            TokenChoice::Create(home) => {
                self.protect_with_new_token(input, options, home, notes)
                    .await
            }
        }
    }

    /// A protected result recorded in the history, with `options` as it keeps them (an output
    /// that embeds a plain token is also held in memory); when recording fails, a note says so
    /// and the result has no id.
    async fn record_generated(
        &self,
        input: &str,
        options: &ProtectOptions,
        protected: Protected,
        resolutions: &[Resolution],
        notes: &mut Vec<String>,
    ) -> GenerationResult {
        let recorded = generations::record(
            &self.db,
            NewGeneration {
                input,
                options,
                protected: &protected,
                resolutions,
                notes: notes.as_slice(),
            },
        )
        .await;
        let id = match recorded {
            Ok(id) => {
                if matches!(options.token, Some(TokenSource::Plain(_))) {
                    self.held_outputs()
                        .hold(id, palisade_taskdef::to_pretty(&protected.output));
                }
                Some(id)
            }
            // The result is still right and worth showing; only its history entry is missing.
            Err(error) => {
                notes.push(format!(
                    "this generation is not in the history ({}): copy or download the result now",
                    error.public_message()
                ));
                None
            }
        };
        GenerationResult::Generated {
            id,
            protected: Box::new(protected),
        }
    }

    /// A CloudFormation template: no registry lookups (an image there is often a parameter), no
    /// token created (a template may hold several families, often written as `!Sub`).
    /// `None` when `input` is not a template (it is read once, here, either way).
    async fn generate_template(
        &self,
        input: &str,
        options: &ProtectOptions,
        token: &TokenChoice,
    ) -> Result<Option<Generation>> {
        let mut options = options.clone();
        let mut notes = vec!["a CloudFormation template is not kept in the history and is deployed with CloudFormation, not registered here".to_owned()];
        options.token = match token {
            TokenChoice::Given(source) => Some(source.clone()),
            TokenChoice::None => None,
            TokenChoice::Create(_) => {
                notes.push("no token was created for a template (its families may be intrinsic functions): create one per family in Settings and give it as a secret ARN".into());
                None
            }
        };
        let input = input.to_owned();
        let outcome = self
            .heavy("running the generator", move |cancel| {
                protect_template_cancellable(&input, &options, cancel)
            })
            .await?;
        let result = match outcome {
            Ok(None) => return Ok(None),
            Ok(Some(template)) => GenerationResult::Template(Box::new(template)),
            Err(rejected) => {
                // The containers that need their image's argv, so the page offers their fields.
                let plan = rejected
                    .problems
                    .iter()
                    .filter(|problem| problem.kind == ProblemKind::MissingEntrypoint)
                    .filter_map(|problem| problem.container.clone())
                    .map(|name| ContainerPlan {
                        name,
                        protect: true,
                        reason: None,
                        needs_image_argv: true,
                        has_command: false,
                        image: String::new(),
                    })
                    .collect();
                GenerationResult::Refused { rejected, plan }
            }
        };
        Ok(Some(Generation {
            result,
            resolutions: Vec::new(),
            given_argv: Vec::new(),
            notes,
        }))
    }

    /// The generation runs first with a stand-in token, so a refused input creates no token; then
    /// a token is created for the family and put where `home` says. A token that cannot be stored
    /// as a secret is revoked and the generation refused (never embedded plain instead).
    async fn protect_with_new_token(
        &self,
        input: &str,
        options: &mut ProtectOptions,
        home: TokenHome,
        notes: &mut Vec<String>,
    ) -> Result<Result<Protected, Rejected>> {
        options.token = Some(TokenSource::Plain("pal_stand-in".into()));
        let trial = match protect(self, input, options).await? {
            Ok(trial) => trial,
            Err(rejected) => return Ok(Err(rejected)),
        };
        let Some(family) = trial.family else {
            // A containerDefinitions array: no family to bind a token to.
            options.token = None;
            notes.push("no token was created: a containerDefinitions array has no family; create one in Settings and give it as PALISADE_TOKEN".into());
            return protect(self, input, options).await;
        };
        let created = tokens::create(&self.db, &family, "created by Generate").await?;
        let note = match home {
            TokenHome::TaskDefinition => {
                options.token = Some(TokenSource::Plain(created.token));
                format!(
                    "token {} was created for family {family} and embedded; revoke it in Settings if this task definition is not used",
                    created.id
                )
            }
            TokenHome::SecretsManager => {
                let settings = crate::settings::load(&self.db).await?;
                match secrets::store_token(&self.aws, &settings, &family, &created.token).await {
                    Ok(arn) => {
                        options.token = Some(TokenSource::Secret(arn));
                        format!(
                            "token {} was created for family {family} and stored in Secrets Manager as {} (the task gets its ARN); the task's execution role needs secretsmanager:GetSecretValue on it",
                            created.id,
                            secrets::secret_name(&family)
                        )
                    }
                    Err(reason) => {
                        if let Err(error) = tokens::revoke(&self.db, created.id).await {
                            // Unused and unknown to anyone, but still valid: say so loudly.
                            tracing::error!(token = created.id, error = %error, "revoking an unused token failed");
                        }
                        return Ok(Err(option_problem(format!(
                            "the new token could not be stored in Secrets Manager ({reason}); it was revoked. Check the AWS settings, or choose another token kind"
                        ))));
                    }
                }
            }
        };
        notes.push(note);
        protect(self, input, options).await
    }
}

/// A refusal, its missing entrypoints explained, with the plan the user needs to fix it.
fn refused(
    mut rejected: Rejected,
    input: &str,
    options: &ProtectOptions,
    resolutions: &[Resolution],
) -> GenerationResult {
    explain_refusal(&mut rejected, resolutions);
    // The plan is what the user needs to fix a refusal (entrypoint fields, toggles).
    let plan = plan_text(input, options).unwrap_or_default();
    GenerationResult::Refused { rejected, plan }
}

/// A missing entrypoint whose image could not be read says why, next to how to give it.
fn explain_refusal(rejected: &mut Rejected, resolutions: &[Resolution]) {
    for problem in rejected
        .problems
        .iter_mut()
        .filter(|p| p.kind == ProblemKind::MissingEntrypoint)
    {
        let failed = resolutions.iter().find_map(|r| match &r.result {
            Err(reason) if problem.container.as_deref() == Some(r.container.as_str()) => {
                Some(reason)
            }
            _ => None,
        });
        if let Some(reason) = failed {
            problem.message = format!(
                "{} (reading it from the registry failed: {reason})",
                problem.message
            );
        }
    }
}
