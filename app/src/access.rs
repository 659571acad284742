//! Who may call what: one table for every REST route, server function and page of the people's
//! listener. The server's middleware looks each request up here before it reaches a handler, and
//! every server function looks itself up again when it runs (a page rendered on the server calls
//! its server functions in-process, past the middleware). A path missing from the table is refused
//! to everyone; a test walks the whole table with every role.

use palisade_console::auth::{Principal, Role};

/// What a caller needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (health checks, signing in, the sign-in page).
    Public,
    /// A principal with at least this role.
    Role(Role),
}

/// One route: its method, its path as the router writes it (`{id}` for a parameter), and what a
/// caller needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn rule(method: &'static str, path: &'static str, access: Access) -> Rule {
    Rule {
        method,
        path,
        access,
    }
}

use Access::Public;
const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);

/// Every route of the people's listener. Viewers see defenders, revisions, incidents, policies,
/// models and the list of generations, never a secret (a generation's input and output may hold
/// one); operators also generate, register and import, acknowledge and resolve incidents, and
/// edit models and allow and deny lists; admins also set families' modes, manage users,
/// settings, registries, tokens and read the audit log.
pub const RULES: &[Rule] = &[
    // REST API.
    rule("GET", "/api/v1/health", Public),
    rule("GET", "/api/v1/openapi.json", VIEWER),
    rule("GET", "/api/v1/session", VIEWER),
    rule("POST", "/api/v1/session", Public),
    rule("DELETE", "/api/v1/session", Public),
    rule("POST", "/api/v1/protect", OPERATOR),
    rule("POST", "/api/v1/unprotect", OPERATOR),
    rule("GET", "/api/v1/generations", VIEWER),
    rule("GET", "/api/v1/generations/{id}", OPERATOR),
    rule("GET", "/api/v1/registrations", VIEWER),
    rule("POST", "/api/v1/registrations", OPERATOR),
    rule("GET", "/api/v1/settings/ecs", ADMIN),
    rule("PUT", "/api/v1/settings/ecs", ADMIN),
    rule("GET", "/api/v1/registries", ADMIN),
    rule("PUT", "/api/v1/registries/{registry}", ADMIN),
    rule("DELETE", "/api/v1/registries/{registry}", ADMIN),
    rule("GET", "/api/v1/defender-image", VIEWER),
    rule("POST", "/api/v1/defender-image", ADMIN),
    rule("GET", "/api/v1/defenders", VIEWER),
    rule("GET", "/api/v1/defenders/{id}", VIEWER),
    rule("GET", "/api/v1/coverage", VIEWER),
    rule("GET", "/api/v1/defenders.csv", VIEWER),
    rule("GET", "/api/v1/defenders/history", VIEWER),
    rule("GET", "/api/v1/defenders/changes", VIEWER),
    rule("GET", "/api/v1/tokens", ADMIN),
    rule("POST", "/api/v1/tokens", ADMIN),
    rule("DELETE", "/api/v1/tokens/{id}", ADMIN),
    rule("DELETE", "/api/v1/families/{family}/tokens", ADMIN),
    // Runtime defense: viewers read; operators acknowledge, resolve, edit models and lists
    // (a change of a family's mode in the PUT needs an admin: the console refuses it with 403).
    rule("GET", "/api/v1/incidents", VIEWER),
    rule("GET", "/api/v1/incidents/{id}", VIEWER),
    rule("POST", "/api/v1/incidents/{id}/acknowledge", OPERATOR),
    rule("POST", "/api/v1/incidents/{id}/resolve", OPERATOR),
    rule("GET", "/api/v1/families/{family}/policy", VIEWER),
    rule("PUT", "/api/v1/families/{family}/policy", OPERATOR),
    rule("GET", "/api/v1/families/{family}/model", VIEWER),
    rule("POST", "/api/v1/families/{family}/model/relearn", OPERATOR),
    rule("POST", "/api/v1/families/{family}/model/extend", OPERATOR),
    rule(
        "POST",
        "/api/v1/families/{family}/model/executables",
        OPERATOR,
    ),
    rule("GET", "/api/v1/rules", VIEWER),
    rule("GET", "/api/v1/api-tokens", ADMIN),
    rule("POST", "/api/v1/api-tokens", ADMIN),
    rule("DELETE", "/api/v1/api-tokens/{id}", ADMIN),
    rule("GET", "/api/v1/users", ADMIN),
    rule("POST", "/api/v1/users", ADMIN),
    rule("PUT", "/api/v1/users/{username}", ADMIN),
    rule("DELETE", "/api/v1/users/{username}", ADMIN),
    rule("GET", "/api/v1/audit", ADMIN),
    // Signing in and out from the page (plain forms, so they work before the wasm arrives) and
    // single sign-on.
    rule("POST", "/auth/sign-in", Public),
    rule("POST", "/auth/sign-out", Public),
    rule("GET", "/auth/oidc/start", Public),
    rule("GET", "/auth/oidc/callback", Public),
    // Server functions.
    rule("POST", "/api/whoami", Public),
    rule("POST", "/api/sign-in-options", Public),
    rule("POST", "/api/generate", OPERATOR),
    rule("POST", "/api/recent-generations", VIEWER),
    rule("POST", "/api/token-default", OPERATOR),
    rule("POST", "/api/load-generation", OPERATOR),
    rule("POST", "/api/register-generation", OPERATOR),
    rule("POST", "/api/list-registrations", VIEWER),
    rule("POST", "/api/ecs-families", OPERATOR),
    rule("POST", "/api/ecs-revisions", OPERATOR),
    rule("POST", "/api/ecs-import", OPERATOR),
    rule("POST", "/api/get-ecs-settings", ADMIN),
    rule("POST", "/api/save-ecs-settings", ADMIN),
    rule("POST", "/api/list-registries", ADMIN),
    rule("POST", "/api/save-registry", ADMIN),
    rule("POST", "/api/remove-registry", ADMIN),
    rule("POST", "/api/defender-image", VIEWER),
    rule("POST", "/api/publish-defender-image", ADMIN),
    rule("POST", "/api/list-tokens", ADMIN),
    rule("POST", "/api/create-token", ADMIN),
    rule("POST", "/api/revoke-token", ADMIN),
    rule("POST", "/api/list-api-tokens", ADMIN),
    rule("POST", "/api/create-api-token", ADMIN),
    rule("POST", "/api/revoke-api-token", ADMIN),
    rule("POST", "/api/list-users", ADMIN),
    rule("POST", "/api/add-user", ADMIN),
    rule("POST", "/api/remove-user", ADMIN),
    rule("POST", "/api/list-audit", ADMIN),
    rule("POST", "/api/list-defenders", VIEWER),
    rule("POST", "/api/get-defender", VIEWER),
    rule("POST", "/api/service-coverage", VIEWER),
    rule("POST", "/api/defender-history", VIEWER),
    rule("POST", "/api/list-incidents", VIEWER),
    rule("POST", "/api/get-incident", VIEWER),
    rule("POST", "/api/incident-counts", VIEWER),
    rule("POST", "/api/set-incident-state", OPERATOR),
    rule("POST", "/api/mark-normal", OPERATOR),
    rule("POST", "/api/list-rules", VIEWER),
    rule("POST", "/api/list-families", VIEWER),
    rule("POST", "/api/get-family", VIEWER),
    rule("POST", "/api/save-policy", OPERATOR),
    rule("POST", "/api/relearn-model", OPERATOR),
    rule("POST", "/api/extend-learning", OPERATOR),
    // Pages.
    rule("GET", "/sign-in", Public),
    rule("GET", "/", VIEWER),
    rule("GET", "/protect", VIEWER),
    rule("GET", "/defenders", VIEWER),
    rule("GET", "/defenders/{id}", VIEWER),
    rule("GET", "/incidents", VIEWER),
    rule("GET", "/incidents/{id}", VIEWER),
    rule("GET", "/models", VIEWER),
    rule("GET", "/models/{family}", VIEWER),
    rule("GET", "/revisions", VIEWER),
    rule("GET", "/settings", ADMIN),
    rule("GET", "/audit", ADMIN),
];

/// What `method path` needs; `None` when the table has no rule for it (refused to everyone).
/// `path` is the route's pattern (`/api/v1/tokens/{id}`), not the request's path.
pub fn access(method: &str, path: &str) -> Option<Access> {
    RULES
        .iter()
        .find(|rule| rule.method.eq_ignore_ascii_case(method) && rule.path == path)
        .map(|rule| rule.access)
}

/// Why a caller may not go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Nobody is signed in (or the session ended): 401.
    SignInFirst,
    /// Signed in, but the role is not enough: 403.
    NotAllowed { needed: Role },
    /// The route has no rule: 403 for everyone.
    NoRule,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::SignInFirst => {
                f.write_str("sign in first (or give a pipeline token as Authorization: Bearer)")
            }
            Refusal::NotAllowed { needed } => write!(f, "this needs the {needed} role"),
            Refusal::NoRule => f.write_str("this route has no access rule, so nobody may call it"),
        }
    }
}

/// Whether `principal` (`None`: nobody signed in) may call `method path`.
pub fn check(principal: Option<&Principal>, method: &str, path: &str) -> Result<(), Refusal> {
    match access(method, path) {
        None => Err(Refusal::NoRule),
        Some(Access::Public) => Ok(()),
        Some(Access::Role(needed)) => match principal {
            None => Err(Refusal::SignInFirst),
            Some(principal) if principal.may(needed) => Ok(()),
            Some(_) => Err(Refusal::NotAllowed { needed }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_one_rule() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            assert!(
                seen.insert((rule.method, rule.path)),
                "{} {} has two rules",
                rule.method,
                rule.path
            );
        }
    }
}
