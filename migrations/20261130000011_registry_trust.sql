-- Credentials go only to the registry they belong to: sending a registry's credentials (or its ECR
-- login) to another endpoint is an explicit choice, stored and shown. Rows saved before are not
-- confirmed: their lookups say how to confirm.
ALTER TABLE registries ADD COLUMN credentials_to_endpoint INTEGER NOT NULL DEFAULT 0;

-- The image cache is keyed by what answered (the registry's origin or the endpoint that stood in
-- for it), so an answer from one endpoint is never served for another. Old answers carry no
-- origin; they are dropped and read again.
DROP TABLE image_configs;
CREATE TABLE image_configs (
    image TEXT NOT NULL,
    platform TEXT NOT NULL,
    -- `https://host[:port]` (or `http://` for loopback and admin-set http endpoints).
    source TEXT NOT NULL,
    digest TEXT NOT NULL,
    -- JSON arrays, NULL when the image does not set them.
    entrypoint TEXT,
    cmd TEXT,
    -- Unix milliseconds.
    resolved_at INTEGER NOT NULL,
    PRIMARY KEY (image, platform, source)
);
