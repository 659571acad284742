//! Everything the user chooses about a protection: mode, token, containers in or out, image argv,
//! defender image.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How the defender relates to the workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Defender non-essential; the app starts once the binary is in place, console or not.
    #[default]
    Availability,
    /// Defender essential; the app waits until the defender has reached the console.
    Security,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Availability => "availability",
            Mode::Security => "security",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "availability" => Ok(Mode::Availability),
            "security" => Ok(Mode::Security),
            other => Err(format!(
                "unknown mode `{other}`: use availability or security"
            )),
        }
    }
}

/// Where a secret the task needs comes from: the defender's console token, or a vendor's key
/// (the Datadog API key, the Sysdig access key).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum TokenSource {
    /// Written into `environment`: readable by anyone with ecs:DescribeTaskDefinition.
    Plain(String),
    /// A Secrets Manager or SSM parameter ARN, injected through `secrets`.
    Secret(String),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Never print a token or key, even in debug output.
            TokenSource::Plain(_) => f.write_str("Plain(<redacted>)"),
            TokenSource::Secret(arn) => write!(f, "Secret({arn})"),
        }
    }
}

/// What the image runs when the task definition gives no `entryPoint`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageArgv {
    /// The image ENTRYPOINT; or, given as a bare array for a container without `command`, the
    /// whole argv the image runs (ENTRYPOINT + CMD).
    #[serde(rename = "entryPoint", default)]
    pub entry_point: Vec<String>,
    /// The image CMD, used only when the container has no `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

impl ImageArgv {
    /// Reads `["a","b"]` (an argv) or `{"entryPoint": [...], "command": [...]}`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(text.trim()).map_err(|error| format!("not JSON: {error}"))?;
        match value {
            Value::Array(_) => {
                let argv: Vec<String> = serde_json::from_value(value)
                    .map_err(|_| "the array must hold strings only".to_owned())?;
                Ok(ImageArgv {
                    entry_point: argv,
                    command: None,
                })
            }
            Value::Object(_) => serde_json::from_value(value).map_err(|error| {
                format!("expected {{\"entryPoint\": [...], \"command\": [...]}}: {error}")
            }),
            _ => Err(
                "expected a JSON array of strings, like [\"/docker-entrypoint.sh\", \"nginx\"]"
                    .to_owned(),
            ),
        }
    }
}

/// Everything the user chooses about a protection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProtectOptions {
    pub mode: Mode,
    pub console_url: Option<String>,
    pub token: Option<TokenSource>,
    /// Containers to protect even though they are skipped by default.
    pub include: Vec<String>,
    /// Containers to leave alone.
    pub exclude: Vec<String>,
    /// Image argv per container name, for containers without `entryPoint`.
    pub image_argv: BTreeMap<String, ImageArgv>,
    pub defender_image: Option<String>,
    /// Whose runtime security to install (the bundled defender unless another is chosen); the
    /// console URL, token, mode and defender image apply to the bundled defender only.
    pub profile: super::Profile,
}
