//! Generate's options as every front end sends them ([`GenerateOptions`]: the REST body, the
//! Protect page, the CLI's flags), read into the console's request here and nowhere else: the
//! token choice, the mode, the entrypoints given, and the tagged vendor profile with its defaults.

use super::{image_argv, option_problem, GenerateRequest, TokenChoice, TokenHome};
use crate::text::non_blank;
use palisade_taskdef::protect::{
    DatadogCws, SysdigServerless, DATADOG_AGENT_IMAGE, DATADOG_CWS_IMAGE, DATADOG_SITE,
    SYSDIG_IMAGE,
};
use palisade_taskdef::{Mode, Profile, ProtectOptions, Rejected, TokenSource};
use palisade_types::protect::{CreateToken, GenerateOptions, ProfileOptions};
use serde_json::Value;
use std::collections::BTreeMap;

impl GenerateRequest {
    /// The request `options` make of `input`, or which option cannot work (a problem of the
    /// options, shown beside the input's problems).
    pub fn decode(input: String, options: GenerateOptions) -> Result<GenerateRequest, Rejected> {
        let mode = match non_blank(options.mode.as_deref()) {
            None => Mode::Availability,
            Some(mode) => mode.parse().map_err(option_problem)?,
        };
        let token = token_choice(
            non_blank(options.token.as_deref()),
            non_blank(options.token_secret.as_deref()),
            options.create_token,
        )?;
        Ok(GenerateRequest {
            input,
            options: ProtectOptions {
                mode,
                console_url: non_blank(options.console_url.as_deref()),
                token: None,
                include: options.include,
                exclude: options.exclude,
                image_argv: given_entrypoints(options.entrypoints)?,
                defender_image: non_blank(options.defender_image.as_deref()),
                profile: profile(options.profile).map_err(option_problem)?,
            },
            token,
            resolve: !options.no_resolve,
        })
    }
}

fn token_choice(
    token: Option<String>,
    token_secret: Option<String>,
    create: Option<CreateToken>,
) -> Result<TokenChoice, Rejected> {
    Ok(match (token, token_secret, create) {
        (None, None, None) => TokenChoice::None,
        (Some(token), None, None) => TokenChoice::Given(TokenSource::Plain(token)),
        (None, Some(arn), None) => TokenChoice::Given(TokenSource::Secret(arn)),
        (None, None, Some(CreateToken::Plain)) => TokenChoice::Create(TokenHome::TaskDefinition),
        (None, None, Some(CreateToken::Secret)) => TokenChoice::Create(TokenHome::SecretsManager),
        _ => {
            return Err(option_problem(
                "give one of token, token_secret and create_token".into(),
            ))
        }
    })
}

/// Each container's image argv, given as JSON or as JSON text (the page's field); an empty
/// text is no argv given.
fn given_entrypoints(
    given: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, palisade_taskdef::protect::ImageArgv>, Rejected> {
    let mut argv = BTreeMap::new();
    for (name, value) in given {
        let text = match value {
            Value::String(text) => text,
            other => other.to_string(),
        };
        if !text.trim().is_empty() {
            argv.insert(name.clone(), image_argv(&name, &text)?);
        }
    }
    Ok(argv)
}

/// The profile `options` describe, each setting left out at its recipe's default, or what is
/// wrong with one. A vendor's key arrives as a secret ARN only.
pub fn profile(options: ProfileOptions) -> Result<Profile, String> {
    let or = |value: Option<String>, default: &str| {
        non_blank(value.as_deref()).unwrap_or_else(|| default.to_owned())
    };
    let secret = |arn: Option<String>| non_blank(arn.as_deref()).map(TokenSource::Secret);
    Ok(match options {
        ProfileOptions::Palisade => Profile::Palisade,
        ProfileOptions::DatadogCws(datadog) => Profile::DatadogCws(DatadogCws {
            api_key: secret(datadog.api_key_secret),
            site: or(datadog.site, DATADOG_SITE),
            agent_image: or(datadog.agent_image, DATADOG_AGENT_IMAGE),
            cws_image: or(datadog.cws_image, DATADOG_CWS_IMAGE),
        }),
        ProfileOptions::SysdigServerless(sysdig) => Profile::SysdigServerless(SysdigServerless {
            access_key: secret(sysdig.access_key_secret),
            collector: non_blank(sysdig.collector.as_deref()).unwrap_or_default(),
            priority: match non_blank(sysdig.priority.as_deref()) {
                None => Mode::Availability,
                Some(priority) => priority.parse().map_err(|_| {
                    format!("unknown Sysdig priority `{priority}`: use availability or security")
                })?,
            },
            image: or(sysdig.image, SYSDIG_IMAGE),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_types::protect::{DatadogOptions, SysdigOptions};
    use serde_json::json;

    fn decode(options: Value) -> Result<GenerateRequest, String> {
        let options: GenerateOptions = serde_json::from_value(options).unwrap();
        GenerateRequest::decode("{}".into(), options).map_err(|rejected| rejected.to_string())
    }

    #[test]
    fn left_out_settings_take_the_recipes_defaults_and_keys_are_secret_references() {
        let datadog = profile(ProfileOptions::DatadogCws(DatadogOptions {
            api_key_secret: Some(" arn:aws:secretsmanager:us-east-1:1:secret:dd ".into()),
            site: Some("  ".into()),
            ..DatadogOptions::default()
        }))
        .unwrap();
        assert_eq!(
            datadog,
            Profile::DatadogCws(DatadogCws {
                api_key: Some(TokenSource::Secret(
                    "arn:aws:secretsmanager:us-east-1:1:secret:dd".into()
                )),
                ..DatadogCws::default()
            })
        );
        let sysdig = profile(ProfileOptions::SysdigServerless(SysdigOptions {
            collector: Some("agent:6667".into()),
            priority: Some("security".into()),
            ..SysdigOptions::default()
        }))
        .unwrap();
        let Profile::SysdigServerless(sysdig) = sysdig else {
            panic!("{sysdig:?}")
        };
        assert_eq!(
            (
                sysdig.collector.as_str(),
                sysdig.priority,
                sysdig.image.as_str()
            ),
            ("agent:6667", Mode::Security, SYSDIG_IMAGE)
        );
        let wrong = profile(ProfileOptions::SysdigServerless(SysdigOptions {
            priority: Some("high".into()),
            ..SysdigOptions::default()
        }));
        assert!(wrong.unwrap_err().contains("use availability or security"));
    }

    #[test]
    fn one_token_choice_at_most_and_entrypoints_as_json_or_text() {
        let request = decode(json!({
            "create_token": "secret",
            "entrypoints": {"web": ["/srv/web", "serve"], "worker": "[\"/srv/worker\"]", "blank": " "},
        }))
        .unwrap();
        assert_eq!(
            request.token,
            TokenChoice::Create(TokenHome::SecretsManager)
        );
        assert_eq!(
            request.options.image_argv.keys().collect::<Vec<_>>(),
            ["web", "worker"]
        );
        let both = decode(json!({"token": "t", "create_token": "plain"})).unwrap_err();
        assert!(both.contains("give one of token"), "{both}");
        let mode = decode(json!({"mode": "paranoid"})).unwrap_err();
        assert!(mode.contains("unknown mode `paranoid`"), "{mode}");
        let argv = decode(json!({"entrypoints": {"web": "serve"}})).unwrap_err();
        assert!(argv.contains("entrypoint of `web`"), "{argv}");
    }
}
