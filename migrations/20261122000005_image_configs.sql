-- Image configs read from registries (ENTRYPOINT and CMD), by image reference and platform, with
-- the manifest digest they came from. Times are Unix milliseconds.
CREATE TABLE image_configs (
    image TEXT NOT NULL,
    platform TEXT NOT NULL,
    digest TEXT NOT NULL,
    -- JSON arrays, NULL when the image does not set them.
    entrypoint TEXT,
    cmd TEXT,
    resolved_at INTEGER NOT NULL,
    PRIMARY KEY (image, platform)
);
