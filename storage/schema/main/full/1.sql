-- Full schema of the logical database "main" at version 1: everything but
-- room state groups.

-- Facts about the server fixed at creation (server_name: a homeserver
-- cannot be renamed).
CREATE TABLE server_config (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
