-- Who may use the console: people (local accounts, or single sign-on users as their identity
-- provider names them), their sessions, pipeline tokens, and the audit log. Secrets are stored only
-- as hashes: passwords with Argon2id (PHC strings), session and pipeline tokens (256 random bits)
-- as SHA-256. Times are Unix milliseconds.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    -- Argon2id PHC string; NULL for a single sign-on user (who has no password here).
    password_hash TEXT,
    -- admin, operator or viewer.
    role TEXT NOT NULL,
    -- local or oidc.
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_sign_in_at INTEGER
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_sha256 TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    -- Idle sessions end: this moves with use.
    last_seen_at INTEGER NOT NULL,
    -- Absolute end, whatever the use.
    expires_at INTEGER NOT NULL,
    -- Where the sign-in came from.
    address TEXT NOT NULL DEFAULT ''
);

CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    -- Who created it (a username).
    created_by TEXT NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    -- A username, `token N (label)` for a pipeline token, or `-` before anyone signed in.
    actor TEXT NOT NULL,
    -- The client's address.
    address TEXT NOT NULL,
    -- What was done: sign-in, sign-in-failed, user-add, token-create, settings-save, generate...
    action TEXT NOT NULL,
    -- What it was done to (a username, a family, a generation id...), empty when nothing.
    target TEXT NOT NULL,
    -- ok, or why it failed.
    outcome TEXT NOT NULL
);

CREATE INDEX audit_newest_first ON audit (at DESC, id DESC);
