-- Registry settings replace registry_credentials: credentials became optional (ECR registries get
-- theirs from the AWS chain) and a registry may be reached at an endpoint of its own (a mirror, a
-- pull-through cache, a private endpoint). Passwords are still never stored, only where to read
-- them (`env:NAME` or `file:/path`).
CREATE TABLE registries (
    registry TEXT PRIMARY KEY,
    -- Both set or both NULL.
    username TEXT,
    password_ref TEXT,
    -- `https://host[:port]` or `http://host[:port]`, NULL for the registry's own host.
    endpoint TEXT,
    -- Unix milliseconds.
    created_at INTEGER NOT NULL
);

INSERT INTO registries (registry, username, password_ref, endpoint, created_at)
    SELECT registry, username, password_ref, NULL, created_at FROM registry_credentials;

DROP TABLE registry_credentials;
