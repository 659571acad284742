//! What counts as a secret in what operators wrote (argv, command lines, the summary lines that
//! quote them) and how it is withheld from viewers: the one rule every view a viewer may read
//! applies ([`Disclosure`]). Operators and admins see everything: they can open the generation
//! itself anyway.
//!
//! The rule, each part shown as [`WITHHELD`]:
//! - a URL's password: `scheme://user:PASS@host`;
//! - the value of a secret-named key: after `=` or `:` in the same word (`--password=x`,
//!   `PGPASSWORD=x`, `"api_key": "x"`, `?token=x&`), or the next word or argv element after a
//!   secret-named flag or key (`--db-password x`, `password: x`). A name is secret-named when one
//!   of its parts (split at `-`, `_`, `.` and camelCase) is `pwd`, `pass`, `key`, `auth`,
//!   `private`, `session` or `cookie`, or holds `password`, `passwd`, `passphrase`, `secret`,
//!   `token`, `credential`, `apikey`, `signature` or `authorization` (case-insensitive), unless
//!   its last part says where a secret is or what shape it has rather than what it is (`file`,
//!   `path`, `dir`, `ref`, `arn`, `url`, `name`, `type`, `timeout`...: `--key-file /x` and
//!   `--passwords-file /x` stay) or it is a switch or a bound (`--no-auth`, `--max-tokens`). A
//!   flag followed by another flag had no value. `-p` stays: it is as often a port as a password;
//! - the word after `Bearer`, and after a scheme word (`Basic`, `Token`, `Digest`) when an
//!   `Authorization` key came before;
//! - the value of an environment assignment (`NAME=value`, `NAME` in capitals: `env API_KEY=x
//!   app`), whatever the name: viewers see no environment values;
//! - strings shaped like well-known secrets: AWS access key ids (`AKIA`/`ASIA` and 16 capitals or
//!   digits), AWS secret keys (40 characters of base64 with capitals, small letters and digits),
//!   GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), Slack tokens
//!   (`xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`, `xoxs-`), Stripe keys (`sk_live_`, `rk_test_`...),
//!   Google API keys (`AIza`), JWTs (`eyJ….….…`), Palisade's own tokens (`pal_`, `plt_`, `pls_`)
//!   and the body of a PEM private key block.
//!
//! JSON arrays of strings inside a text (how summary lines quote an argv) are read as argv, so a
//! flag's value is found in the next element. Every matcher is a single forward scan: the time is
//! linear in the text, whatever it holds.

mod assignments;
mod flags;
mod names;
mod shapes;
mod text;
mod urls;

use crate::auth::{Principal, Role};
use flags::{Pending, Taken};
use std::borrow::Cow;
use text::redact_text_asking;

/// What stands where a secret was.
pub const WITHHELD: &str = "***";

/// How much of what operators wrote a reader may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// Operators and admins: they may open a generation, input and output, anyway.
    Everything,
    /// Viewers, and anyone the console cannot place: secret-looking parts withheld.
    WithoutSecrets,
}

impl Disclosure {
    /// What `principal` may see (nobody known: no secrets).
    pub fn for_principal(principal: Option<&Principal>) -> Disclosure {
        match principal {
            Some(principal) if principal.may(Role::Operator) => Disclosure::Everything,
            _ => Disclosure::WithoutSecrets,
        }
    }

    /// A line of text (a summary line, a command line, an error that may quote either).
    pub fn text(self, text: &str) -> Cow<'_, str> {
        match self {
            Disclosure::Everything => Cow::Borrowed(text),
            Disclosure::WithoutSecrets => redact_text(text),
        }
    }

    /// Lines of text, each as [`Disclosure::text`] shows it.
    pub fn lines(self, lines: Vec<String>) -> Vec<String> {
        match self {
            Disclosure::Everything => lines,
            Disclosure::WithoutSecrets => lines
                .into_iter()
                .map(|line| redact_text(&line).into_owned())
                .collect(),
        }
    }
}

/// `text` with every secret-looking part withheld (the module's rule).
pub fn redact_text(text: &str) -> Cow<'_, str> {
    redact_text_asking(text).0
}

/// `argv` with every secret-looking part withheld: each element as text, and the element after a
/// secret-named flag as a whole.
pub fn redact_argv(argv: &[String]) -> Vec<String> {
    let mut redacted = Vec::with_capacity(argv.len());
    let mut pending = Pending::No;
    for argument in argv {
        match pending.take(argument) {
            Taken::Withheld => {
                redacted.push(WITHHELD.to_owned());
                continue;
            }
            Taken::Kept => {
                redacted.push(argument.clone());
                continue;
            }
            Taken::Read => {}
        }
        let (text, asks) = redact_text_asking(argument);
        pending = asks;
        redacted.push(text.into_owned());
    }
    redacted
}

/// `text` as a viewer sees it (the tests' shorthand).
#[cfg(test)]
fn shown(text: &str) -> String {
    redact_text(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Who;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn what_is_not_a_secret_is_left_alone() {
        for text in [
            "--passwords-file /run/secrets/db --key-file /etc/tls/key.pem --token-url https://auth.example/t",
            "-p 8080 --port=80 --no-auth /srv/data --max-tokens 100 --auth-mode oauth --session-timeout 30",
            "nginx -g daemon off;",
            "image: nginx:1.25 at 12:30, host db:5432",
            "keyboard monkey tokenizer passage author",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "https://user@example.com/path?page=2 http://example.com:8080/",
            "/opt/App/bin/Server2/lib/Modules/Handler9",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "eyJ-not-a-jwt AKIA-short ghp_short xoxb-1",
            "wrapped entryPoint of api: [\"/app/api\",\"--port\",\"80\"] -> [\"/palisade/palisade-defender\",\"exec\",\"--\",\"/app/api\",\"--port\",\"80\"]",
        ] {
            assert!(matches!(redact_text(text), Cow::Borrowed(_)), "{text} became {}", shown(text));
        }
    }

    #[test]
    fn an_argv_withholds_the_element_after_a_secret_flag() {
        assert_eq!(
            redact_argv(&argv(&[
                "/app",
                "--password",
                "hunter 2",
                "--db-password",
                "--verbose",
                "-p",
                "8080"
            ])),
            argv(&[
                "/app",
                "--password",
                "***",
                "--db-password",
                "--verbose",
                "-p",
                "8080"
            ])
        );
        assert_eq!(
            redact_argv(&argv(&[
                "curl",
                "-H",
                "Authorization:",
                "Bearer",
                "abc",
                "https://x"
            ])),
            argv(&["curl", "-H", "Authorization:", "Bearer", "***", "https://x"])
        );
        assert_eq!(
            redact_argv(&argv(&[
                "sh",
                "-c",
                "psql postgres://app:hunter2@db/app --password hunter2"
            ])),
            argv(&["sh", "-c", "psql postgres://app:***@db/app --password ***"])
        );
    }

    #[test]
    fn any_text_is_redacted_in_linear_time() {
        let hostile = [
            "eyJ-".repeat(50_000),
            "[\"".repeat(50_000),
            "[\"a\",".repeat(30_000),
            "a=".repeat(50_000),
            "--password ".repeat(20_000),
            "x://".repeat(50_000),
            "-----BEGIN ".repeat(20_000),
            "xoxb-".repeat(40_000),
            "AKIA".repeat(50_000),
            "a:x://".repeat(40_000),
            "\"password\":\"x".repeat(20_000),
            "password:\" ".repeat(40_000),
            "[\"a\\\"".repeat(40_000),
            "ghp_".repeat(50_000),
        ];
        let started = std::time::Instant::now();
        for text in &hostile {
            let _ = redact_text(text);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn operators_see_everything_and_viewers_or_nobody_no_secrets() {
        let person = |role| Principal {
            who: Who::User {
                id: 1,
                username: "ann".into(),
            },
            role,
        };
        let text = "--password hunter2";
        assert_eq!(Disclosure::for_principal(None).text(text), "--password ***");
        assert_eq!(
            Disclosure::for_principal(Some(&person(Role::Viewer))).text(text),
            "--password ***"
        );
        for role in [Role::Operator, Role::Admin] {
            let disclosure = Disclosure::for_principal(Some(&person(role)));
            assert_eq!(disclosure, Disclosure::Everything);
            assert_eq!(disclosure.text(text), text);
            assert_eq!(disclosure.lines(vec![text.into()]), [text]);
        }
    }
}
