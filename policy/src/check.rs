//! A policy's bounds: what the console checks before it stores or sends one and a defender before
//! it takes one, each problem named by a JSON pointer into the policy and said with its fix.

use serde::{Deserialize, Serialize};

use crate::model::{is_container_name, ContainerModel, Model};
use crate::policy::{ListEntry, Policy};
use crate::rules::RuleId;
use crate::{
    MAX_ALLOWED_PORTS, MAX_DISABLED_RULES, MAX_LIST_ENTRIES, MAX_MODEL_CONTAINERS,
    MAX_MODEL_EXECUTABLES, MAX_MODEL_PORTS, MAX_PARENTS_PER_EXECUTABLE, MAX_PATH_CHARS,
    MAX_POLICY_BYTES, MAX_PROBLEMS, MAX_UIDS_PER_EXECUTABLE, POLICY_VERSION,
};

/// One thing wrong with a policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyProblem {
    /// Where, as a JSON pointer into the policy (`/model/containers/web/executables/3`; empty for
    /// the whole policy).
    pub pointer: String,
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// The problems found so far, at most [`MAX_PROBLEMS`].
#[derive(Default)]
struct Problems(Vec<PolicyProblem>);

impl Problems {
    fn add(
        &mut self,
        pointer: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(PolicyProblem {
                pointer: pointer.into(),
                message: message.into(),
                fix: fix.into(),
            });
        }
    }

    /// A list longer than `max`: named at its first entry past the bound.
    fn too_many(&mut self, pointer: &str, len: usize, max: usize, what: &str, fix: &str) {
        if len > max {
            let message = format!("{len} {what}; at most {max}");
            self.add(format!("{pointer}/{max}"), message, fix);
        }
    }
}

/// `name` escaped as one JSON pointer segment (`~` as `~0`, `/` as `~1`).
fn segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

impl Policy {
    /// Every bound this policy breaks (at most [`MAX_PROBLEMS`]), or `Ok` when it may be sent.
    /// Disabled rule ids this build does not know are not problems: a newer console wrote them.
    pub fn check(&self) -> Result<(), Vec<PolicyProblem>> {
        let mut problems = Problems::default();
        check_header(self, &mut problems);
        check_list(&self.allow, "/allow", "allow entries", &mut problems);
        check_list(&self.deny, "/deny", "deny entries", &mut problems);
        check_ports(self, &mut problems);
        if let Some(model) = &self.model {
            check_model(model, &mut problems);
        }
        check_size(self, &mut problems);
        if problems.0.is_empty() {
            Ok(())
        } else {
            Err(problems.0)
        }
    }
}

fn check_header(policy: &Policy, problems: &mut Problems) {
    if policy.version == 0 || policy.version > POLICY_VERSION {
        problems.add(
            "/version",
            format!(
                "version {} is not one this build reads (1 to {POLICY_VERSION})",
                policy.version
            ),
            format!("write the policy in version {POLICY_VERSION}, or update this side"),
        );
    }
    let disabled = &policy.disabled_rules;
    problems.too_many(
        "/disabled_rules",
        disabled.len(),
        MAX_DISABLED_RULES,
        "disabled rules",
        "name each rule once",
    );
    for (index, rule) in disabled.iter().enumerate().take(MAX_DISABLED_RULES) {
        if *rule == RuleId::DenyList {
            problems.add(
                format!("/disabled_rules/{index}"),
                "the deny list cannot be switched off",
                "remove `deny-list` here and empty the deny list instead",
            );
        }
    }
}

fn check_container(name: &str, pointer: String, problems: &mut Problems) {
    if !is_container_name(name) {
        problems.add(
            pointer,
            "not a container name",
            "use the container's name from the task definition: 1 to 255 letters, digits, `_` and `-`",
        );
    }
}

fn check_list(entries: &[ListEntry], pointer: &str, what: &str, problems: &mut Problems) {
    let fix = "merge entries with a glob (`/opt/app/bin/*`) or remove some";
    problems.too_many(pointer, entries.len(), MAX_LIST_ENTRIES, what, fix);
    for (index, entry) in entries.iter().enumerate().take(MAX_LIST_ENTRIES) {
        if let Some(error) = entry.executable.error() {
            problems.add(
                format!("{pointer}/{index}/executable"),
                error,
                "give an absolute path or glob: `/usr/bin/curl`, `/opt/app/bin/*`, `/**/xmrig`",
            );
        }
        if let Some(container) = &entry.container {
            check_container(container, format!("{pointer}/{index}/container"), problems);
        }
    }
}

fn check_ports(policy: &Policy, problems: &mut Problems) {
    let ports = &policy.allowed_ports;
    problems.too_many(
        "/allowed_ports",
        ports.len(),
        MAX_ALLOWED_PORTS,
        "allowed ports",
        "remove some",
    );
    for (index, entry) in ports.iter().enumerate().take(MAX_ALLOWED_PORTS) {
        if entry.port == 0 {
            problems.add(
                format!("/allowed_ports/{index}/port"),
                "port 0 never listens",
                "give a port from 1 to 65535",
            );
        }
        if let Some(container) = &entry.container {
            check_container(
                container,
                format!("/allowed_ports/{index}/container"),
                problems,
            );
        }
    }
}

fn check_model(model: &Model, problems: &mut Problems) {
    let count = model.containers.len();
    if count > MAX_MODEL_CONTAINERS {
        problems.add(
            "/model/containers",
            format!("{count} containers; at most {MAX_MODEL_CONTAINERS}"),
            "drop containers the family no longer has",
        );
    }
    // A map has no entry "past the bound": the pointer above names the map, and every container
    // is looked into (problems are capped anyway).
    for (name, container) in &model.containers {
        let pointer = format!("/model/containers/{}", segment(name));
        check_container(name, pointer.clone(), problems);
        check_container_model(container, &pointer, problems);
    }
}

fn check_container_model(model: &ContainerModel, pointer: &str, problems: &mut Problems) {
    let executables = format!("{pointer}/executables");
    let fix = "relearn the container, or remove executables it no longer runs";
    problems.too_many(
        &executables,
        model.executables.len(),
        MAX_MODEL_EXECUTABLES,
        "executables",
        fix,
    );
    let ports = format!("{pointer}/ports");
    problems.too_many(&ports, model.ports.len(), MAX_MODEL_PORTS, "ports", fix);
    for (index, record) in model
        .executables
        .iter()
        .enumerate()
        .take(MAX_MODEL_EXECUTABLES)
    {
        let at = format!("{executables}/{index}");
        let path = &record.executable;
        if !path.starts_with('/') || path.chars().count() > MAX_PATH_CHARS {
            problems.add(
                format!("{at}/executable"),
                format!("not an absolute path of at most {MAX_PATH_CHARS} characters"),
                "remove this executable from the model",
            );
        }
        let parents_fix = "keep fewer parents; they are for display";
        problems.too_many(
            &format!("{at}/parents"),
            record.parents.len(),
            MAX_PARENTS_PER_EXECUTABLE,
            "parents",
            parents_fix,
        );
        if let Some(index) = record
            .parents
            .iter()
            .position(|parent| parent.chars().count() > MAX_PATH_CHARS)
        {
            problems.add(
                format!("{at}/parents/{index}"),
                "the path is too long",
                parents_fix,
            );
        }
        let uids_fix = "keep fewer users; they are for display";
        problems.too_many(
            &format!("{at}/uids"),
            record.uids.len(),
            MAX_UIDS_PER_EXECUTABLE,
            "users",
            uids_fix,
        );
    }
    for (index, record) in model.ports.iter().enumerate().take(MAX_MODEL_PORTS) {
        if record.port == 0 {
            problems.add(
                format!("{ports}/{index}/port"),
                "port 0 never listens",
                "remove this port from the model",
            );
        }
    }
}

fn check_size(policy: &Policy, problems: &mut Problems) {
    let bytes = serde_json::to_vec(policy).map_or(usize::MAX, |json| json.len());
    if bytes > MAX_POLICY_BYTES {
        problems.add(
            "",
            format!("the policy is {bytes} bytes as JSON; at most {MAX_POLICY_BYTES}"),
            "remove allow or deny entries, or executables the model no longer needs",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PortEntry;

    fn pointers(policy: &Policy) -> Vec<String> {
        match policy.check() {
            Ok(()) => Vec::new(),
            Err(problems) => problems
                .into_iter()
                .map(|problem| problem.pointer)
                .collect(),
        }
    }

    #[test]
    fn the_default_policy_passes() {
        assert_eq!(Policy::default().check(), Ok(()));
    }

    #[test]
    fn each_problem_names_its_place_and_its_fix() {
        let mut model = Model::default();
        model.add_exec("web", "/usr/bin/app", 1);
        model.containers.get_mut("web").unwrap().executables[0].executable = "app".into();
        model
            .containers
            .insert("we/b~".into(), ContainerModel::default());
        let policy = Policy {
            version: 9,
            disabled_rules: vec![RuleId::NetworkTool, RuleId::DenyList],
            allow: vec![ListEntry::new("/ok"), ListEntry::new("curl")],
            deny: vec![ListEntry::in_container("/a/[", "web app")],
            allowed_ports: vec![PortEntry {
                port: 0,
                protocol: None,
                container: None,
            }],
            model: Some(model),
            ..Policy::default()
        };
        let problems = policy.check().unwrap_err();
        assert!(problems.iter().all(|problem| !problem.fix.is_empty()));
        let found: Vec<&str> = problems
            .iter()
            .map(|problem| problem.pointer.as_str())
            .collect();
        assert_eq!(
            found,
            [
                "/version",
                "/disabled_rules/1",
                "/allow/1/executable",
                "/deny/0/executable",
                "/deny/0/container",
                "/allowed_ports/0/port",
                "/model/containers/we~1b~0",
                "/model/containers/web/executables/0/executable",
            ]
        );
    }

    #[test]
    fn a_list_one_entry_past_its_bound_is_named_at_that_entry() {
        let mut policy = Policy {
            deny: (0..MAX_LIST_ENTRIES)
                .map(|n| ListEntry::new(format!("/bin/p{n}")))
                .collect(),
            ..Policy::default()
        };
        assert_eq!(policy.check(), Ok(()));
        policy.deny.push(ListEntry::new("/bin/one-more"));
        assert_eq!(pointers(&policy), [format!("/deny/{MAX_LIST_ENTRIES}")]);
    }

    #[test]
    fn problems_are_capped() {
        let policy = Policy {
            allow: (0..MAX_LIST_ENTRIES)
                .map(|_| ListEntry::new("relative"))
                .collect(),
            ..Policy::default()
        };
        assert_eq!(policy.check().unwrap_err().len(), MAX_PROBLEMS);
    }
}
