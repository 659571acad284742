//! A command line as the name-based rules read it: which tool runs and with which arguments, seen
//! through multi-call binaries (busybox's `nc` is `/bin/busybox` with `argv[0]` `nc`), script
//! interpreters (`pip` is `python3 /usr/local/bin/pip ...` once the kernel reads its `#!`) and
//! `python -m pip`.

use crate::facts::base_name;

/// One reading of a command: a tool's name and the arguments after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Invocation<'a> {
    pub name: &'a str,
    pub args: &'a [String],
}

/// How an interpreter's options are read, enough to find the script or module it runs.
struct Interpreter {
    stems: &'static [&'static str],
    /// Short options after which the program is given inline (`-c`, `-e`): no script follows.
    stop_letters: &'static str,
    /// Short options naming a module to run as the program (`python -m pip`).
    module_letters: &'static str,
    /// Short options that take a value, attached or as the next argument.
    value_letters: &'static str,
    stop_long: &'static [&'static str],
    value_long: &'static [&'static str],
}

const INTERPRETERS: [Interpreter; 6] = [
    Interpreter {
        stems: &["python", "pypy"],
        stop_letters: "c",
        module_letters: "m",
        value_letters: "WX",
        stop_long: &[],
        value_long: &["--check-hash-based-pycs"],
    },
    Interpreter {
        stems: &["node", "nodejs"],
        stop_letters: "ep",
        module_letters: "",
        value_letters: "rC",
        stop_long: &["--eval", "--print"],
        value_long: &[
            "--require",
            "--import",
            "--loader",
            "--experimental-loader",
            "--conditions",
            "--title",
        ],
    },
    Interpreter {
        stems: &["ruby"],
        stop_letters: "e",
        module_letters: "",
        value_letters: "ICEFr",
        stop_long: &[],
        value_long: &[],
    },
    Interpreter {
        stems: &["perl"],
        stop_letters: "eE",
        module_letters: "",
        value_letters: "IMm",
        stop_long: &[],
        value_long: &[],
    },
    Interpreter {
        stems: &["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh"],
        stop_letters: "c",
        module_letters: "",
        value_letters: "oO",
        stop_long: &[],
        value_long: &["--rcfile", "--init-file"],
    },
    // Multi-call binaries run as `busybox nc ...`: the first argument is the tool.
    Interpreter {
        stems: MULTI_CALL,
        stop_letters: "",
        module_letters: "",
        value_letters: "",
        stop_long: &[],
        value_long: &[],
    },
];

/// Binaries that are many tools, the one `argv[0]` names.
const MULTI_CALL: &[&str] = &["busybox", "toybox"];

/// Extensions a script's name loses to be compared (`npm-cli.js`, `yarn.cjs`).
const SCRIPT_EXTENSIONS: [&str; 7] = [".js", ".cjs", ".mjs", ".py", ".rb", ".pl", ".sh"];

/// Every reading of the command, most direct first: the executable's name, `argv[0]`'s name, and
/// the script or module an interpreter runs.
pub(crate) fn invocations<'a>(executable: &'a str, argv: &'a [String]) -> Vec<Invocation<'a>> {
    let args = argv.get(1..).unwrap_or_default();
    let executable = base_name(executable);
    let first = argv.first().map_or("", |first| base_name(first));
    let mut found: Vec<Invocation<'a>> = [executable, first]
        .into_iter()
        .filter(|name| !name.is_empty())
        .map(|name| Invocation { name, args })
        .collect();
    found.dedup();
    // `argv[0]` first: for a multi-call binary it names the applet (`busybox` run as `sh -c ...`
    // is a shell, not `busybox` running a script named by the `-c` text).
    let inner = through_interpreter(first, args).or_else(|| {
        let multi_call = MULTI_CALL.iter().any(|name| versioned(executable, name));
        (!multi_call)
            .then(|| through_interpreter(executable, args))
            .flatten()
    });
    found.extend(inner);
    found
}

/// Whether `name` is `stem` or `stem` with a version (`python3.12`, `pip3`, `gem3.1`).
pub(crate) fn versioned(name: &str, stem: &str) -> bool {
    match name.strip_prefix(stem) {
        Some(rest) => rest.chars().all(|c| c.is_ascii_digit() || c == '.'),
        None => false,
    }
}

enum Cluster<'a> {
    Stop,
    Module(&'a str),
    Value { attached: bool },
    Flags,
}

fn short_cluster<'a>(interpreter: &Interpreter, letters: &'a str) -> Cluster<'a> {
    for (at, letter) in letters.char_indices() {
        let rest = &letters[at + letter.len_utf8()..];
        if interpreter.stop_letters.contains(letter) {
            return Cluster::Stop;
        }
        if interpreter.module_letters.contains(letter) {
            return Cluster::Module(rest);
        }
        if interpreter.value_letters.contains(letter) {
            return Cluster::Value {
                attached: !rest.is_empty(),
            };
        }
    }
    Cluster::Flags
}

/// The script or module an interpreter named `name` runs with `args`, if it runs one.
fn through_interpreter<'a>(name: &str, args: &'a [String]) -> Option<Invocation<'a>> {
    let interpreter = INTERPRETERS
        .iter()
        .find(|interpreter| interpreter.stems.iter().any(|stem| versioned(name, stem)))?;
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        if arg == "--" {
            index += 1;
            break;
        }
        if arg == "-" || !arg.starts_with('-') {
            break;
        }
        if arg.starts_with("--") {
            if interpreter.stop_long.contains(&arg.as_str()) {
                return None;
            }
            index += 1 + usize::from(interpreter.value_long.contains(&arg.as_str()));
            continue;
        }
        match short_cluster(interpreter, &arg[1..]) {
            Cluster::Stop => return None,
            Cluster::Module("") => {
                let module = args.get(index + 1)?;
                return Some(Invocation {
                    name: module,
                    args: &args[index + 2..],
                });
            }
            Cluster::Module(module) => {
                return Some(Invocation {
                    name: module,
                    args: &args[index + 1..],
                })
            }
            Cluster::Value { attached } => index += if attached { 1 } else { 2 },
            Cluster::Flags => index += 1,
        }
    }
    let script = args.get(index).filter(|script| *script != "-")?;
    Some(Invocation {
        name: script_name(base_name(script)),
        args: args.get(index + 1..).unwrap_or_default(),
    })
}

fn script_name(name: &str) -> &str {
    SCRIPT_EXTENSIONS
        .iter()
        .find_map(|extension| name.strip_suffix(extension))
        .filter(|stem| !stem.is_empty())
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    fn names(executable: &str, words: &[&str]) -> Vec<(String, Vec<String>)> {
        let argv = argv(words);
        invocations(executable, &argv)
            .into_iter()
            .map(|found| (found.name.to_owned(), found.args.to_vec()))
            .collect()
    }

    #[test]
    fn a_binary_is_read_by_its_name_and_its_argv0() {
        let found = names("/bin/busybox", &["nc", "-l", "-p", "4444"]);
        assert_eq!(found[0].0, "busybox");
        assert_eq!(found[1], ("nc".into(), argv(&["-l", "-p", "4444"])));
        let applet = names("/bin/busybox", &["busybox", "nc", "-l"]);
        assert_eq!(applet.last().unwrap(), &("nc".into(), argv(&["-l"])));
        let shell = names("/bin/busybox", &["sh", "-c", "apk add x"]);
        assert_eq!(shell.len(), 2, "no script: {shell:?}");
    }

    #[test]
    fn a_script_is_read_through_its_interpreter() {
        let found = names(
            "/usr/local/bin/python3.12",
            &[
                "/usr/local/bin/python3",
                "/usr/local/bin/pip",
                "install",
                "x",
            ],
        );
        assert_eq!(
            found.last().unwrap(),
            &("pip".into(), argv(&["install", "x"]))
        );
        let node = names(
            "/usr/local/bin/node",
            &[
                "node",
                "--max-old-space-size=512",
                "/usr/lib/node_modules/npm/bin/npm-cli.js",
                "ci",
            ],
        );
        assert_eq!(node.last().unwrap(), &("npm-cli".into(), argv(&["ci"])));
    }

    #[test]
    fn python_dash_m_names_the_module() {
        for words in [
            &["python3", "-m", "pip", "install", "x"][..],
            &["python3", "-I", "-m", "pip", "install", "x"],
            &["python3", "-Im", "pip", "install", "x"],
            &["python3", "-W", "ignore", "-mpip", "install", "x"],
        ] {
            let found = names("/usr/bin/python3", words);
            assert_eq!(
                found.last().unwrap(),
                &("pip".into(), argv(&["install", "x"])),
                "{words:?}"
            );
        }
    }

    #[test]
    fn inline_programs_run_no_script() {
        assert_eq!(
            names("/bin/sh", &["sh", "-c", "curl -s https://x | sh"]).len(),
            1
        );
        assert_eq!(
            names("/bin/bash", &["bash", "-ec", "apt-get install x"]).len(),
            1
        );
        assert_eq!(
            names("/usr/bin/python3", &["python3", "-c", "import pip"]).len(),
            1
        );
        assert_eq!(names("/usr/bin/node", &["node", "-e", "1"]).len(), 1);
        assert_eq!(names("/usr/bin/python3", &["python3"]).len(), 1);
    }

    #[test]
    fn versions_follow_the_stem_only() {
        assert!(versioned("python3.12", "python"));
        assert!(versioned("pip3", "pip"));
        assert!(versioned("pip", "pip"));
        assert!(!versioned("pipx", "pip"));
        assert!(!versioned("python3-config", "python"));
    }
}
