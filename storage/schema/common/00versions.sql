-- Tables every physical database has: its schema version, the oldest code
-- version that can use it, the deltas applied (seed 002), and its background
-- updates (seed 000).
CREATE TABLE schema_version (
    lock TEXT NOT NULL DEFAULT 'X' UNIQUE CHECK (lock = 'X'),
    version INTEGER NOT NULL,
    upgraded INTEGER NOT NULL
);

CREATE TABLE schema_compat_version (
    lock TEXT NOT NULL DEFAULT 'X' UNIQUE CHECK (lock = 'X'),
    compat_version INTEGER NOT NULL
);

CREATE TABLE applied_schema_deltas (
    version INTEGER NOT NULL,
    file TEXT NOT NULL,
    UNIQUE (version, file)
);

-- A long data migration done in batches while the server runs; a row is
-- deleted when its update completes.
CREATE TABLE background_updates (
    update_name TEXT NOT NULL PRIMARY KEY,
    progress_json TEXT NOT NULL DEFAULT '{}',
    depends_on TEXT,
    ordering INTEGER NOT NULL DEFAULT 0
);
