//! Protecting every task definition resource of a template: each with the options that name its
//! own containers, its problems named by their place in the template.

use super::intrinsics::{is_token, readable, structural_intrinsics, token, Intrinsic};
use super::locate::{locate, locate_yaml};
use super::properties::{read_properties, template_pointer, to_template, uncoerce};
use super::read::{read, task_definition_ids};
use super::write::write_changed;
use super::{
    ProtectedResource, ProtectedTemplate, TemplateFormat, MAX_LOGICAL_ID_CHARS,
    TASK_DEFINITION_TYPE,
};
use crate::cancel::Cancel;
use crate::pointer_push;
use crate::problem::{Problem, ProblemKind, Rejected, MAX_PROBLEMS};
use crate::protect::{protect_with_unknowns, ProtectOptions};
use crate::summary::Warning;
use crate::to_pretty;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Protects every task definition resource of a template; `Ok(None)` when `text` is not one.
pub fn protect_template(
    text: &str,
    options: &ProtectOptions,
) -> Result<Option<ProtectedTemplate>, Rejected> {
    protect_template_cancellable(text, options, &Cancel::never())
}

/// [`protect_template`], stopped with a [`ProblemKind::Cancelled`] problem at the next resource
/// (or the next step of one) once `cancel` is raised.
pub fn protect_template_cancellable(
    text: &str,
    options: &ProtectOptions,
    cancel: &Cancel,
) -> Result<Option<ProtectedTemplate>, Rejected> {
    cancel.check()?;
    let Some(reading) = read(text)? else {
        return Ok(None);
    };
    let ids: Vec<String> = task_definition_ids(&reading.root);
    if ids.is_empty() {
        return Err(Rejected::one(
            Problem::at(ProblemKind::NotATaskDefinition, "/Resources", format!("the template has no {TASK_DEFINITION_TYPE} resource"))
                .with_hint("paste the template that defines the task definition, or the task definition itself"),
        ));
    }
    let mut run = Run::new(options, &reading.intrinsics);
    // The left side of the diff: each resource as protect read it (normalized), the rest as is.
    let mut normalized = Vec::new();
    let mut output = Vec::new();
    for id in ids {
        cancel.check()?;
        let properties = reading.root["Resources"][&id]
            .get("Properties")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        if let Some(written) = run.protect_resource(&id, &properties, cancel)? {
            normalized.push((id.clone(), written.normalized));
            output.push((id, written.output));
        }
    }
    run.check_option_names();
    cancel.check()?;
    if !run.problems.is_empty() {
        let mut rejected = Rejected {
            problems: run.problems,
        };
        match reading.format {
            TemplateFormat::Json => locate(text, &mut rejected),
            TemplateFormat::Yaml => locate_yaml(text, &mut rejected, cancel)?,
        }
        return Err(rejected);
    }
    let resources = run.resources;
    let [normalized, output]: [String; 2] = write_changed(text, &reading, &[&normalized, &output])
        .try_into()
        .unwrap_or_default();
    Ok(Some(ProtectedTemplate {
        format: reading.format,
        normalized,
        output,
        resources,
        intrinsics: reading.intrinsics,
    }))
}

/// A resource's properties, protected and as protect read them, in the template's spelling.
struct WrittenProperties {
    output: Value,
    normalized: Value,
}

/// Protecting the resources of one template, one at a time: what they gave so far.
struct Run<'a> {
    options_by_name: OptionsByName<'a>,
    intrinsics: &'a [Intrinsic],
    resources: Vec<ProtectedResource>,
    problems: Vec<Problem>,
    /// Every container name of every resource, to check the options' names against.
    named: Vec<String>,
    named_set: HashSet<String>,
}

impl<'a> Run<'a> {
    fn new(options: &'a ProtectOptions, intrinsics: &'a [Intrinsic]) -> Self {
        Run {
            options_by_name: OptionsByName::new(options),
            intrinsics,
            resources: Vec::new(),
            problems: Vec::new(),
            named: Vec::new(),
            named_set: HashSet::new(),
        }
    }

    /// Protects the resource `id`; `None` when it has problems (kept, to be answered with every
    /// other resource's).
    fn protect_resource(
        &mut self,
        id: &str,
        properties: &Value,
        cancel: &Cancel,
    ) -> Result<Option<WrittenProperties>, Rejected> {
        if let Some(problem) = too_long_logical_id(id) {
            self.problems.push(problem);
            return Ok(None);
        }
        let resource_pointer = pointer_push(&pointer_push("/Resources", id), "Properties");
        let (mut task, seen, coerced) = read_properties(properties);
        let structural = structural_intrinsics(&task, &resource_pointer, &seen);
        if !structural.is_empty() {
            self.problems.extend(structural);
            return Ok(None);
        }
        // CloudFormation names the family itself when Family is left out; the API requires one,
        // so a stand-in is validated as unknown and taken out again.
        let family_absent = task.get("family").is_none() && task.is_object();
        if family_absent {
            task["family"] = Value::String(token(usize::MAX));
        }
        // A leaf is unknown when an intrinsic function stands there: asked of the task itself,
        // since a list of their pointers would repeat every key above each of them.
        let is_unknown = |pointer: &str| task.pointer(pointer).is_some_and(is_token);
        // The options name containers of any resource: each resource gets those of its own.
        let names: Vec<String> = crate::array_items(task.get("containerDefinitions"))
            .filter_map(|container| container.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        self.named_set.extend(names.iter().cloned());
        let own = self.options_by_name.for_containers(&names);
        self.named.extend(names);
        let mut protected =
            match protect_with_unknowns(&to_pretty(&task), &own, &is_unknown, cancel) {
                Ok(protected) => protected,
                Err(rejected) if rejected.has(ProblemKind::Cancelled) => return Err(rejected),
                Err(rejected) => {
                    self.add_problems(id, &resource_pointer, &seen, rejected);
                    return Ok(None);
                }
            };
        // Warnings about what an intrinsic function stands for are not the user's.
        protected
            .warnings
            .retain(|warning| !warning.pointer.as_deref().is_some_and(is_unknown));
        for warning in &mut protected.warnings {
            relocate_warning(warning, &resource_pointer, &seen);
            warning.message = readable(&warning.message, self.intrinsics);
        }
        if family_absent {
            for document in [&mut protected.output, &mut protected.normalized] {
                if let Value::Object(task) = document {
                    task.shift_remove("family");
                }
            }
            protected.family = None;
        }
        let mut output = protected.output.clone();
        uncoerce(&mut output, &coerced);
        let mut before = protected.normalized.clone();
        uncoerce(&mut before, &coerced);
        self.resources.push(ProtectedResource {
            logical_id: id.to_owned(),
            protected,
        });
        Ok(Some(WrittenProperties {
            output: to_template(&output, &seen),
            normalized: to_template(&before, &seen),
        }))
    }

    /// A resource's problems, named by their place in the template and their intrinsic functions
    /// as written.
    fn add_problems(
        &mut self,
        id: &str,
        resource_pointer: &str,
        seen: &HashMap<String, String>,
        rejected: Rejected,
    ) {
        for mut problem in rejected.problems {
            problem.message = format!(
                "resource {id}: {}",
                readable(&problem.message, self.intrinsics)
            );
            problem.hint = problem.hint.map(|hint| readable(&hint, self.intrinsics));
            problem.pointer = problem
                .pointer
                .map(|pointer| template_pointer(resource_pointer, &pointer, seen));
            problem.line = None;
            problem.column = None;
            self.problems.push(problem);
        }
    }

    /// An option naming a container no resource has is a problem of the options.
    fn check_option_names(&mut self) {
        let options = self.options_by_name.options;
        let given = options
            .include
            .iter()
            .chain(&options.exclude)
            .chain(options.image_argv.keys());
        let mut containers = None;
        for name in given {
            if !self.named_set.contains(name) {
                let containers = containers.get_or_insert_with(|| containers_hint(&self.named));
                self.problems.push(
                    Problem::at(
                        ProblemKind::Options,
                        "/Resources",
                        format!("the options name `{name}`, which is not a container of any task definition in the template"),
                    )
                    .with_hint(containers.clone()),
                );
            }
        }
    }
}

fn too_long_logical_id(id: &str) -> Option<Problem> {
    let length = id.chars().count();
    (length > MAX_LOGICAL_ID_CHARS).then(|| {
        let start: String = id.chars().take(32).collect();
        Problem::at(
            ProblemKind::Limit,
            "/Resources",
            format!("the logical ID `{start}…` is {length} characters long: CloudFormation takes at most {MAX_LOGICAL_ID_CHARS}"),
        )
        .with_hint("give the resource a shorter logical ID")
    })
}

/// The template's containers, as a hint to an option naming none of them. Each such option gets
/// it: the list stops at [`MAX_PROBLEMS`] names, or thousands of options each naming thousands
/// of containers would make a list per option as long as the template.
fn containers_hint(named: &[String]) -> String {
    let listed: Vec<&str> = named
        .iter()
        .take(MAX_PROBLEMS)
        .map(String::as_str)
        .collect();
    match named.len() - listed.len() {
        0 => format!("containers: {}", listed.join(", ")),
        more => format!("containers: {} and {more} more", listed.join(", ")),
    }
}

/// The options' container names, indexed once: each resource takes the options that name its
/// own containers in time for its containers, not for every option given.
struct OptionsByName<'a> {
    options: &'a ProtectOptions,
    /// The options without the ones naming containers: every resource's start.
    unnamed: ProtectOptions,
    include: HashMap<&'a str, Vec<usize>>,
    exclude: HashMap<&'a str, Vec<usize>>,
}

impl<'a> OptionsByName<'a> {
    fn new(options: &'a ProtectOptions) -> Self {
        let positions = |names: &'a [String]| {
            let mut by_name: HashMap<&'a str, Vec<usize>> = HashMap::new();
            for (position, name) in names.iter().enumerate() {
                by_name.entry(name).or_default().push(position);
            }
            by_name
        };
        OptionsByName {
            options,
            unnamed: ProtectOptions {
                include: Vec::new(),
                exclude: Vec::new(),
                image_argv: BTreeMap::new(),
                ..options.clone()
            },
            include: positions(&options.include),
            exclude: positions(&options.exclude),
        }
    }

    /// The options that name any of `names`, in the order they were given.
    fn for_containers(&self, names: &[String]) -> ProtectOptions {
        let distinct: HashSet<&str> = names.iter().map(String::as_str).collect();
        let pick = |given: &[String], by_name: &HashMap<&str, Vec<usize>>| {
            let mut positions: Vec<usize> = distinct
                .iter()
                .filter_map(|name| by_name.get(name))
                .flatten()
                .copied()
                .collect();
            positions.sort_unstable();
            positions
                .into_iter()
                .map(|position| given[position].clone())
                .collect()
        };
        let mut own = self.unnamed.clone();
        own.include = pick(&self.options.include, &self.include);
        own.exclude = pick(&self.options.exclude, &self.exclude);
        own.image_argv = distinct
            .iter()
            .filter_map(|name| self.options.image_argv.get_key_value(*name))
            .map(|(name, argv)| (name.clone(), argv.clone()))
            .collect();
        own
    }
}

fn relocate_warning(warning: &mut Warning, resource_pointer: &str, seen: &HashMap<String, String>) {
    warning.pointer = warning
        .pointer
        .as_ref()
        .map(|pointer| template_pointer(resource_pointer, pointer, seen));
}

/// The protected template as this crate wrote it before it kept the template's text: the whole
/// template re-serialized (serde_yaml_ng, or pretty JSON). Tests compare what the text now means
/// with what it meant then.
#[cfg(test)]
pub(super) fn written_whole_before_splicing(text: &str, options: &ProtectOptions) -> String {
    let reading = read(text).unwrap().unwrap();
    let mut run = Run::new(options, &reading.intrinsics);
    let mut root = reading.root.clone();
    for id in task_definition_ids(&reading.root) {
        let properties = root["Resources"][&id]["Properties"].clone();
        let written = run
            .protect_resource(&id, &properties, &Cancel::never())
            .unwrap()
            .unwrap();
        root["Resources"][&id]["Properties"] = written.output;
    }
    super::write::written_whole_by_serde(reading.format, &root, &reading.intrinsics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::test_support::{api_tasks, options};
    use crate::template::yaml_places;

    #[test]
    fn a_problem_in_each_of_400_resources_is_placed_in_one_read_of_the_template() {
        let text = api_tasks(400);
        yaml_places::LINES_READ.with(|lines| lines.set(0));
        let rejected = protect_template(&text, &options()).unwrap_err();
        // One read of the text places all 400 (a read per problem was 400 reads).
        assert_eq!(
            yaml_places::LINES_READ.with(std::cell::Cell::get),
            text.lines().count()
        );
        let api_lines: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| line.trim_start() == "- Name: api")
            .map(|(index, _)| index + 1)
            .collect();
        assert_eq!(rejected.problems.len(), 400, "{rejected}");
        for (copy, problem) in rejected.problems.iter().enumerate() {
            assert_eq!(problem.kind, ProblemKind::MissingEntrypoint, "{problem}");
            assert_eq!(
                problem.pointer.as_deref(),
                Some(
                    format!("/Resources/ApiTask{copy}/Properties/ContainerDefinitions/1").as_str()
                )
            );
            assert_eq!(
                (problem.line, problem.column),
                (Some(api_lines[copy]), Some(9))
            );
        }
    }

    #[test]
    fn options_naming_no_container_share_one_list_of_containers_of_bounded_length() {
        let containers: Vec<String> = (0..3000)
            .map(|index| format!("        - Name: c{index}\n          Image: x\n"))
            .collect();
        let text = format!(
            "Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      ContainerDefinitions:\n{}",
            containers.concat()
        );
        let mut options = options();
        options.include = (0..3000).map(|index| format!("missing{index}")).collect();
        let rejected = protect_template(&text, &options).unwrap_err();
        let unknown: Vec<&Problem> = rejected
            .problems
            .iter()
            .filter(|problem| problem.kind == ProblemKind::Options)
            .collect();
        assert_eq!(unknown.len(), 3000);
        let hint = unknown[0].hint.as_deref().unwrap();
        assert!(hint.starts_with("containers: c0, c1,"), "{hint}");
        assert!(hint.ends_with("c99 and 2900 more"), "{hint}");
    }

    #[test]
    fn protect_looks_at_the_cancel_flag_for_every_resource() {
        let text = api_tasks(20);
        let counting = Cancel::raised_at_check(usize::MAX);
        let finished = protect_template_cancellable(&text, &options(), &counting).unwrap_err();
        assert_eq!(finished.problems.len(), 20, "{finished}");
        let checks = counting.checks();
        assert!(checks >= 20, "{checks} checks for 20 resources");

        // Raised at any of those checks (before the work, after the first resource, halfway, at
        // the very end), the flag stops the work there: nothing is asked after it.
        for raised_at in [1, 2, checks / 2, checks] {
            let cancel = Cancel::raised_at_check(raised_at);
            let rejected = protect_template_cancellable(&text, &options(), &cancel).unwrap_err();
            assert_eq!(rejected.problems.len(), 1, "{rejected}");
            assert_eq!(rejected.problems[0].kind, ProblemKind::Cancelled);
            assert_eq!(cancel.checks(), raised_at);
        }
    }
}
