-- Other servers' public keys, fetched directly or through notaries, to verify their requests and events (federation).
CREATE TABLE remote_server_keys (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    verify_key BLOB NOT NULL,
    -- End of a current key's validity (capped at fetch time + 7 days).
    valid_until_ts INTEGER NOT NULL DEFAULT 0,
    -- When an old key (old_verify_keys) stopped being used; 0 while current.
    expired_ts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_name, key_id)
);

-- The newest signed key response of each server, served again when this server answers notary queries.
CREATE TABLE remote_server_keys_json (
    server_name TEXT NOT NULL PRIMARY KEY,
    key_json BLOB NOT NULL,
    valid_until_ts INTEGER NOT NULL,
    fetched_ts INTEGER NOT NULL
);
