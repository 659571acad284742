//! Package managers and the arguments that make them change what is installed: `pip install` is
//! one, `pip freeze` and `dpkg --print-architecture` (which entrypoint scripts run on every
//! start) are not.

use crate::command::{versioned, Invocation};

/// Which runs of a package manager install, remove or update software.
enum Changes {
    /// Every run (`easy_install x`, `python -m ensurepip`).
    Always,
    /// Runs whose subcommand is one of `verbs`. `values` are the options before the subcommand
    /// that take the next argument as their value; `transparent` words lead to the real
    /// subcommand (`yarn global add`, `uv pip install`); `bare` means no subcommand installs
    /// (`yarn`).
    Subcommand {
        verbs: &'static [&'static str],
        values: &'static [&'static str],
        transparent: &'static [&'static str],
        bare: bool,
    },
    /// Tools driven by options rather than subcommands (`dpkg -i`, `rpm -Uvh`, `pacman -S`).
    Options(fn(&[String]) -> bool),
}

struct Manager {
    /// Base names, each also with a version (`pip3.12`).
    names: &'static [&'static str],
    changes: Changes,
}

const fn verbs(verbs: &'static [&'static str], values: &'static [&'static str]) -> Changes {
    Changes::Subcommand {
        verbs,
        values,
        transparent: &[],
        bare: false,
    }
}

const APT_VERBS: &[&str] = &[
    "install",
    "reinstall",
    "remove",
    "purge",
    "autoremove",
    "autopurge",
    "upgrade",
    "full-upgrade",
    "dist-upgrade",
    "safe-upgrade",
    "update",
    "build-dep",
    "satisfy",
];
const APT_VALUES: &[&str] = &[
    "-o",
    "--option",
    "-c",
    "--config-file",
    "-t",
    "--target-release",
];
const APK_VERBS: &[&str] = &["add", "del", "upgrade", "update", "fix"];
const APK_VALUES: &[&str] = &[
    "-X",
    "--repository",
    "-p",
    "--root",
    "--arch",
    "--cache-dir",
    "--keys-dir",
    "--repositories-file",
];
const DNF_VERBS: &[&str] = &[
    "install",
    "in",
    "reinstall",
    "remove",
    "erase",
    "rm",
    "autoremove",
    "update",
    "upgrade",
    "update-minimal",
    "upgrade-minimal",
    "downgrade",
    "distro-sync",
    "distrosync",
    "dsync",
    "groupinstall",
    "groupupdate",
    "groupremove",
    "localinstall",
    "localupdate",
    "swap",
    "makecache",
];
const DNF_VALUES: &[&str] = &[
    "-c",
    "--config",
    "--installroot",
    "--releasever",
    "-x",
    "--exclude",
    "--enablerepo",
    "--disablerepo",
    "--repo",
    "--repoid",
    "-d",
    "--debuglevel",
    "-e",
    "--errorlevel",
    "--setopt",
    "--forcearch",
];
const ZYPPER_VERBS: &[&str] = &[
    "install",
    "in",
    "remove",
    "rm",
    "update",
    "up",
    "dist-upgrade",
    "dup",
    "patch",
    "source-install",
    "si",
    "refresh",
    "ref",
];
const ZYPPER_VALUES: &[&str] = &[
    "-R",
    "--root",
    "-c",
    "--config",
    "--reposd-dir",
    "--cache-dir",
];
const PIP_VALUES: &[&str] = &[
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--trusted-host",
    "--cert",
    "--client-cert",
    "--cache-dir",
    "--python",
    "--use-feature",
    "--use-deprecated",
    "--keyring-provider",
    "--root-user-action",
];
const NPM_VERBS: &[&str] = &[
    "install",
    "i",
    "in",
    "ins",
    "inst",
    "insta",
    "instal",
    "isnt",
    "isnta",
    "isntal",
    "isntall",
    "add",
    "ci",
    "clean-install",
    "ic",
    "install-clean",
    "isntall-clean",
    "install-test",
    "it",
    "install-ci-test",
    "cit",
    "update",
    "up",
    "upgrade",
    "udpate",
    "uninstall",
    "unistall",
    "remove",
    "rm",
    "r",
    "un",
];
const NPM_VALUES: &[&str] = &[
    "--prefix",
    "-C",
    "-w",
    "--workspace",
    "--registry",
    "--cache",
    "--userconfig",
    "--loglevel",
];
const YARN_VALUES: &[&str] = &[
    "--cwd",
    "--registry",
    "--cache-folder",
    "--modules-folder",
    "--global-folder",
    "--mutex",
    "--network-timeout",
];
const PNPM_VALUES: &[&str] = &[
    "-C",
    "--dir",
    "--filter",
    "-F",
    "--store-dir",
    "--registry",
    "--loglevel",
    "--reporter",
];
const CONDA_VALUES: &[&str] = &[
    "-n",
    "--name",
    "-p",
    "--prefix",
    "-c",
    "--channel",
    "-r",
    "--root-prefix",
];

const MANAGERS: &[Manager] = &[
    Manager {
        names: &["apt", "apt-get", "aptitude"],
        changes: verbs(APT_VERBS, APT_VALUES),
    },
    Manager {
        names: &["dpkg"],
        changes: Changes::Options(dpkg_changes),
    },
    Manager {
        names: &["apk"],
        changes: verbs(APK_VERBS, APK_VALUES),
    },
    Manager {
        names: &["yum", "dnf", "microdnf", "tdnf"],
        changes: Changes::Subcommand {
            verbs: DNF_VERBS,
            values: DNF_VALUES,
            transparent: &["group", "module"],
            bare: false,
        },
    },
    Manager {
        names: &["rpm"],
        changes: Changes::Options(rpm_changes),
    },
    Manager {
        names: &["zypper"],
        changes: verbs(ZYPPER_VERBS, ZYPPER_VALUES),
    },
    Manager {
        names: &["pacman"],
        changes: Changes::Options(pacman_changes),
    },
    Manager {
        names: &["pip"],
        changes: verbs(&["install", "uninstall"], PIP_VALUES),
    },
    Manager {
        names: &["easy_install"],
        changes: Changes::Always,
    },
    Manager {
        names: &["ensurepip"],
        changes: Changes::Always,
    },
    Manager {
        names: &["pipx"],
        changes: verbs(
            &[
                "install",
                "inject",
                "upgrade",
                "upgrade-all",
                "reinstall",
                "reinstall-all",
            ],
            &[],
        ),
    },
    Manager {
        names: &["uv"],
        changes: Changes::Subcommand {
            verbs: &["install", "add", "sync", "uninstall", "remove"],
            values: &["--directory", "--project", "--cache-dir"],
            transparent: &["pip", "tool"],
            bare: false,
        },
    },
    Manager {
        names: &["poetry"],
        changes: verbs(
            &["add", "install", "update", "remove"],
            &["-C", "--directory"],
        ),
    },
    Manager {
        names: &["npm", "npm-cli"],
        changes: verbs(NPM_VERBS, NPM_VALUES),
    },
    Manager {
        names: &["yarn", "yarnpkg"],
        changes: Changes::Subcommand {
            verbs: &["add", "install", "upgrade", "up", "remove"],
            values: YARN_VALUES,
            transparent: &["global"],
            bare: true,
        },
    },
    Manager {
        names: &["pnpm"],
        changes: verbs(
            &[
                "add",
                "install",
                "i",
                "update",
                "up",
                "upgrade",
                "remove",
                "rm",
                "uninstall",
                "un",
                "install-test",
                "it",
            ],
            PNPM_VALUES,
        ),
    },
    Manager {
        names: &["gem"],
        changes: verbs(&["install", "i", "update", "uninstall"], &["--config-file"]),
    },
    Manager {
        names: &["bundle", "bundler"],
        changes: verbs(&["install", "add", "update"], &["--gemfile"]),
    },
    Manager {
        names: &["cargo"],
        changes: verbs(&["install"], &["-Z", "--config", "-C"]),
    },
    Manager {
        names: &["go"],
        changes: verbs(&["install", "get"], &["-C"]),
    },
    Manager {
        names: &["conda", "mamba", "micromamba"],
        changes: Changes::Subcommand {
            verbs: &[
                "install",
                "create",
                "update",
                "upgrade",
                "remove",
                "uninstall",
            ],
            values: CONDA_VALUES,
            transparent: &["env"],
            bare: false,
        },
    },
    Manager {
        names: &["composer"],
        changes: Changes::Subcommand {
            verbs: &["require", "install", "update", "upgrade", "remove"],
            values: &["-d", "--working-dir"],
            transparent: &["global"],
            bare: false,
        },
    },
];

/// The package manager that `invocation` runs to change what is installed, if it does.
pub(crate) fn package_manager(invocation: &Invocation<'_>) -> Option<&'static str> {
    let manager = MANAGERS.iter().find(|manager| {
        manager
            .names
            .iter()
            .any(|name| versioned(invocation.name, name))
    })?;
    let changes = match &manager.changes {
        Changes::Always => true,
        Changes::Options(changes) => changes(invocation.args),
        Changes::Subcommand {
            verbs,
            values,
            transparent,
            bare,
        } => match subcommand(invocation.args, values, transparent) {
            Some(word) => verbs.contains(&word),
            None => *bare,
        },
    };
    changes.then_some(manager.names[0])
}

/// The first word that is neither an option, an option's value, nor a transparent word.
fn subcommand<'a>(args: &'a [String], values: &[&str], transparent: &[&str]) -> Option<&'a str> {
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        // `+nightly` is cargo's toolchain, not a subcommand.
        if arg.starts_with('-') || arg.starts_with('+') {
            skip_value = values.contains(&arg.as_str());
            continue;
        }
        if !transparent.contains(&arg.as_str()) {
            return Some(arg);
        }
    }
    None
}

/// Short options (`-iR`) as their letters; `None` for long ones and plain words.
fn short_letters(arg: &str) -> Option<&str> {
    arg.strip_prefix('-')
        .filter(|letters| !letters.starts_with('-'))
}

/// `dpkg -i`, `-r`, `-P` (in any cluster) or their long forms; `-l`, `-L`, `-s`, `-S` and
/// `--print-architecture` only look.
fn dpkg_changes(args: &[String]) -> bool {
    const LONG: &[&str] = &[
        "--install",
        "--remove",
        "--purge",
        "--unpack",
        "--configure",
        "--triggers-only",
        "--update-avail",
        "--merge-avail",
        "--set-selections",
    ];
    args.iter().any(|arg| {
        LONG.contains(&arg.as_str())
            || short_letters(arg).is_some_and(|letters| letters.contains(['i', 'r', 'P']))
    })
}

/// `rpm -i`, `-U`, `-F`, `-e` (the mode is a cluster's first letter: `-qi` queries) or their
/// long forms.
fn rpm_changes(args: &[String]) -> bool {
    const LONG: &[&str] = &[
        "--install",
        "--upgrade",
        "--freshen",
        "--erase",
        "--reinstall",
    ];
    args.iter().any(|arg| {
        LONG.contains(&arg.as_str())
            || short_letters(arg).is_some_and(|letters| letters.starts_with(['i', 'U', 'F', 'e']))
    })
}

/// `pacman -S` (but not its searching, listing and printing forms), `-U`, `-R`.
fn pacman_changes(args: &[String]) -> bool {
    const LOOKS: &[&str] = &[
        "--search", "--info", "--list", "--groups", "--print", "--clean",
    ];
    if args.iter().any(|arg| LOOKS.contains(&arg.as_str())) {
        return false;
    }
    args.iter().any(|arg| match short_letters(arg) {
        Some(letters) if letters.starts_with('S') => {
            !letters.contains(['s', 'i', 'l', 'g', 'p', 'c'])
        }
        Some(letters) => letters.starts_with(['U', 'R']),
        None => ["--sync", "--upgrade", "--remove"].contains(&arg.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::invocations;

    /// The manager the command line runs to change software, read as the judge reads it.
    fn installs(line: &str) -> Option<&'static str> {
        let argv: Vec<String> = line.split(' ').map(str::to_owned).collect();
        let executable = format!("/usr/bin/{}", argv[0]);
        invocations(&executable, &argv)
            .iter()
            .find_map(package_manager)
    }

    #[test]
    fn system_package_managers_are_seen_when_they_change_software() {
        for line in [
            "apt-get install -y curl",
            "apt-get -o Dpkg::Options::=--force-confold -y install curl",
            "apt update",
            "apk add --no-cache curl",
            "apk --repository http://x add curl",
            "dnf -y install nmap",
            "yum group install Tools",
            "microdnf install procps",
            "dpkg -i x.deb",
            "dpkg --purge x",
            "rpm -Uvh x.rpm",
            "rpm -ivh x.rpm",
            "zypper --non-interactive in curl",
            "pacman -Syu",
            "pacman -S nmap",
        ] {
            assert!(installs(line).is_some(), "{line}");
        }
    }

    #[test]
    fn looking_at_packages_is_not_changing_them() {
        for line in [
            "dpkg --print-architecture",
            "dpkg -l",
            "dpkg -S /bin/ls",
            "dpkg-query -W",
            "rpm -qa",
            "rpm -qi bash",
            "apk info",
            "apt list --installed",
            "yum repolist",
            "dnf group list",
            "pacman -Ss nmap",
            "pacman -Q",
            "pip3 freeze",
            "pip show requests",
            "pip list",
            "pip download x",
            "npm run start",
            "npm --prefix /app run build",
            "yarn start",
            "gem list",
            "go build ./...",
            "cargo run",
        ] {
            assert_eq!(installs(line), None, "{line}");
        }
    }

    #[test]
    fn language_package_managers_are_seen_when_they_install() {
        for (line, manager) in [
            ("pip install requests", "pip"),
            ("pip3 install --user requests", "pip"),
            ("pip3.12 --log /tmp/l install x", "pip"),
            ("python3 -m pip install requests", "pip"),
            ("python3.11 -m pip install -r requirements.txt", "pip"),
            ("python3 /usr/local/bin/pip3 install x", "pip"),
            ("python -m ensurepip", "ensurepip"),
            ("uv pip install x", "uv"),
            ("npm install left-pad", "npm"),
            ("npm i -g pm2", "npm"),
            ("npm --prefix /app ci", "npm"),
            ("node /usr/local/bin/npm install x", "npm"),
            ("yarn", "yarn"),
            ("yarn --frozen-lockfile", "yarn"),
            ("yarn global add x", "yarn"),
            ("pnpm add x", "pnpm"),
            ("pnpm i", "pnpm"),
            ("gem install rails", "gem"),
            ("ruby /usr/bin/gem install rails", "gem"),
            ("bundle install", "bundle"),
            ("cargo install ripgrep", "cargo"),
            ("cargo +nightly install ripgrep", "cargo"),
            ("go install example.com/tool@latest", "go"),
            ("conda install numpy", "conda"),
            ("composer require x/y", "composer"),
        ] {
            assert_eq!(installs(line), Some(manager), "{line}");
        }
    }

    #[test]
    fn a_shell_running_a_download_is_not_a_package_manager() {
        let argv: Vec<String> = ["sh", "-c", "curl -fsSL https://example.com/i.sh | sh"]
            .map(str::to_owned)
            .to_vec();
        assert!(invocations("/bin/sh", &argv)
            .iter()
            .all(|invocation| package_manager(invocation).is_none()));
    }
}
