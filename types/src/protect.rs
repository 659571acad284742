//! What Generate is asked: the options every front end sends (the REST body, the Protect page,
//! the CLI's flags), the vendor profile among them as one tagged value. The console reads them in
//! one place (`palisade_console::generate::GenerateRequest::decode`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Generate's options. Every field may be left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct GenerateOptions {
    /// `availability` (default) or `security`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The URL the defenders connect to (default: the console's own defender URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_url: Option<String>,
    /// A plain token (lands in `environment`, with a warning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A Secrets Manager / SSM ARN for the token (lands in `secrets`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<String>,
    /// Have the console create a token for the task's family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_token: Option<CreateToken>,
    /// Containers to protect although they are skipped by default.
    pub include: Vec<String>,
    /// Containers to leave unprotected.
    pub exclude: Vec<String>,
    /// Container name -> its image's argv: `["/entrypoint.sh", "serve"]`,
    /// `{"entryPoint": [...], "command": [...]}`, or either as JSON text.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Object>))]
    pub entrypoints: BTreeMap<String, serde_json::Value>,
    /// The defender image (default: the one the console published, else the bundled default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defender_image: Option<String>,
    /// Do not read missing entrypoints from the image registries.
    pub no_resolve: bool,
    /// Whose runtime security to install (default: the bundled defender).
    pub profile: ProfileOptions,
}

/// Where a token the console creates goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CreateToken {
    /// Embedded in the task definition's `environment`.
    Plain,
    /// Stored in Secrets Manager; the task definition gets the secret's ARN.
    Secret,
}

/// A profile and its settings, tagged by `name`: `{"name": "palisade"}`,
/// `{"name": "datadog-cws", "api_key_secret": "arn:…"}`,
/// `{"name": "sysdig-serverless", "collector": "HOST:PORT", …}`. A vendor's key is given as a
/// secret ARN only: the console keeps no plain vendor key (the CLI, which keeps nothing, also
/// takes one plain).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum ProfileOptions {
    /// The bundled defender.
    #[default]
    Palisade,
    /// Datadog Workload Protection (CWS, eBPF-less).
    DatadogCws(DatadogOptions),
    /// Sysdig's Serverless Agent.
    SysdigServerless(SysdigOptions),
}

impl ProfileOptions {
    /// The profile's name, as the protection record and the CLI's `--profile` spell it.
    pub fn name(&self) -> &'static str {
        match self {
            ProfileOptions::Palisade => "palisade",
            ProfileOptions::DatadogCws(_) => "datadog-cws",
            ProfileOptions::SysdigServerless(_) => "sysdig-serverless",
        }
    }
}

/// Datadog's settings; each left out takes the recipe's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DatadogOptions {
    /// The Secrets Manager or SSM ARN of the API key (`DD_API_KEY`).
    pub api_key_secret: Option<String>,
    /// Default `datadoghq.com`.
    pub site: Option<String>,
    /// Default `public.ecr.aws/datadog/agent:latest`.
    pub agent_image: Option<String>,
    /// Default `public.ecr.aws/datadog/cws-instrumentation:latest`.
    pub cws_image: Option<String>,
}

/// Sysdig's settings; each left out takes the recipe's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct SysdigOptions {
    /// The Secrets Manager or SSM ARN of the access key (`SYSDIG_ACCESS_KEY`).
    pub access_key_secret: Option<String>,
    /// `HOST:PORT` of the orchestrator agent (or collector). Required.
    pub collector: Option<String>,
    /// `availability` (default) or `security`.
    pub priority: Option<String>,
    /// Default `quay.io/sysdig/workload-agent:latest`.
    pub image: Option<String>,
}

/// What happened to one container's missing entrypoint: the image's config found in its
/// registry, or why it could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResolutionView {
    pub container: String,
    pub image: String,
    /// Absent when the image could not be read (`error` says why and what to do).
    pub found: Option<ImageConfigView>,
    pub error: Option<String>,
}

/// An image's entrypoint and command, as its registry gave them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageConfigView {
    /// `linux/amd64` or `linux/arm64`.
    pub platform: String,
    /// The digest of the (platform's) manifest the config came from.
    pub digest: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// RFC 3339, UTC.
    pub resolved_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_profile_travels_tagged_by_its_name() {
        let options: GenerateOptions = serde_json::from_value(json!({
            "profile": {"name": "sysdig-serverless", "collector": "agent:6667"},
            "create_token": "secret",
        }))
        .unwrap();
        assert_eq!(
            options.profile,
            ProfileOptions::SysdigServerless(SysdigOptions {
                collector: Some("agent:6667".into()),
                ..SysdigOptions::default()
            })
        );
        assert_eq!(options.create_token, Some(CreateToken::Secret));
        assert_eq!(GenerateOptions::default().profile.name(), "palisade");
        let back = serde_json::to_value(&options).unwrap();
        assert_eq!(back["profile"]["name"], "sysdig-serverless");
    }

    #[test]
    fn another_profiles_setting_or_a_plain_key_is_refused_with_its_name() {
        for (profile, says) in [
            (
                json!({"name": "datadog-cws", "collector": "a:1"}),
                "unknown field `collector`",
            ),
            (
                json!({"name": "datadog-cws", "api_key": "plain"}),
                "unknown field `api_key`",
            ),
            (json!({"name": "aqua"}), "unknown variant `aqua`"),
        ] {
            let error = serde_json::from_value::<GenerateOptions>(json!({ "profile": profile }))
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{profile}: {error}");
        }
    }
}
