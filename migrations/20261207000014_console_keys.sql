-- The console's own secret, made at first start: 256 random bits from which a key per purpose is
-- derived (device cookies, single sign-ons under way). In the database so that every replica and
-- every restart signs and checks with the same key.
CREATE TABLE console_keys (
    name TEXT PRIMARY KEY NOT NULL,
    secret BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
