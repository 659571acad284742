-- Credentials for private registries, used to read image configs. The password is never stored:
-- only a reference to where it is read at lookup time (`env:NAME` or `file:/path`).
CREATE TABLE registry_credentials (
    registry TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    password_ref TEXT NOT NULL,
    -- Unix milliseconds.
    created_at INTEGER NOT NULL
);
