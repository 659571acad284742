//! CloudFormation templates, JSON or YAML, protected in place: every `AWS::ECS::TaskDefinition`
//! resource is protected with its PascalCase properties (read as the API's camelCase and written
//! back with the template's own spelling); everything else — parameters, other resources,
//! outputs, and every intrinsic function (`!Ref`, `!Sub`, `Fn::GetAtt`...) — passes through
//! untouched, and the template comes back in its own format. Only the `Properties` of its task
//! definitions are written anew: every other byte of the text (comments, quotes, indentation)
//! comes back as it was.
//!
//! Intrinsic functions are opaque: each becomes a token string while the task definition is
//! protected (validation skips the leaves they stand for) and is put back afterwards. One that
//! stands where protect must read or write (a container, its `EntryPoint`, `Environment`...) is
//! refused with its place, since Palisade cannot wrap what it cannot read.
//!
//! YAML is read by `serde_yaml_ng` (the maintained fork of serde_yaml 0.9): it keeps
//! CloudFormation's short-form tags as tagged values and reports where a template does not
//! parse; it is written by `yaml_emit`. Before the parser, a YAML template's size and
//! nesting are bounded (`yaml_nesting`), and its aliases may not expand past its size
//! (`yaml_reading`); a problem's line and column are found in one read of the text
//! (`yaml_places`).
//!
//! Every step that grows with the input looks at a [`Cancel`](crate::Cancel) flag: the `_cancellable` entry
//! points stop at the next resource once it is raised.
//!
//! Here: the types of a protected template and the entry points. Beside it: reading the text and
//! finding the task definitions (`read`), intrinsic functions as tokens (`intrinsics`), a
//! resource's properties as the API's task definition and back (`properties`), protecting and
//! unprotecting every resource (`protect`, `unprotect`), placing problems in the text (`locate`),
//! and writing the template back (`write`: the task definitions' `Properties` found in the text
//! by `yaml_spans` and `json_spans` and written in their place).

mod intrinsics;
mod json_spans;
mod locate;
mod properties;
mod protect;
mod read;
#[cfg(test)]
mod test_support;
mod unprotect;
mod write;
mod yaml_emit;
mod yaml_nesting;
mod yaml_places;
mod yaml_reading;
mod yaml_spans;

pub use protect::{protect_template, protect_template_cancellable};
pub use read::is_template;
pub use unprotect::{unprotect_template, unprotect_template_cancellable};

use crate::protect::Protected;
use crate::summary::Warning;
use intrinsics::{readable, Intrinsic};

/// The resource type protected.
pub const TASK_DEFINITION_TYPE: &str = "AWS::ECS::TaskDefinition";

/// The largest template read: CloudFormation takes templates of up to 1 MB (uploaded to S3), and
/// the console's request bodies are at most 1 MiB.
pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

/// The longest logical ID CloudFormation takes. Each problem and warning of a resource names it
/// in its pointer: a longer one would be repeated for each of them.
pub const MAX_LOGICAL_ID_CHARS: usize = 255;

/// How deep collections may nest in a YAML template, counted before it is parsed: as deep as
/// serde_json and serde_yaml_ng read, far deeper than any template.
pub const MAX_TEMPLATE_NESTING: usize = 128;

/// How the template was written (and is written back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TemplateFormat {
    Json,
    Yaml,
}

/// One task definition resource, protected.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtectedResource {
    pub logical_id: String,
    pub protected: Protected,
}

/// A protected template: the text to deploy, and per resource what changed.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtectedTemplate {
    pub format: TemplateFormat,
    /// The template as it came in, each task definition's `Properties` written as protect read
    /// them (the left side of a diff: it differs from `output` only where protect changed
    /// something).
    pub normalized: String,
    pub output: String,
    pub resources: Vec<ProtectedResource>,
    intrinsics: Vec<Intrinsic>,
}

impl ProtectedTemplate {
    /// What changed, resource by resource, and the warnings, intrinsic functions as written.
    pub fn describe(&self) -> String {
        self.resources
            .iter()
            .map(|resource| {
                let text = crate::protect::describe(&resource.protected);
                let indented: Vec<String> = text.lines().map(|line| format!("  {line}")).collect();
                format!("resource {}:\n{}", resource.logical_id, indented.join("\n"))
            })
            .map(|text| readable(&text, &self.intrinsics))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The warnings of every resource, intrinsic functions as written.
    pub fn warnings(&self) -> Vec<Warning> {
        self.resources
            .iter()
            .flat_map(|resource| resource.protected.warnings.iter().cloned())
            .collect()
    }
}
