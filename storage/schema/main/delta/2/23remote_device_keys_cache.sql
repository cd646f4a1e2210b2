-- The device and cross-signing keys of remote users, as their server answered user/keys/query, kept while
-- they share a room with a local user (Synapse's device list cache). A row is dropped when an
-- m.device_list_update or m.signing_key_update for the user arrives, and is not used once the user has a
-- membership event newer than membership_nid (they may have left and come back, missing updates meanwhile).
CREATE TABLE remote_device_keys_cache (
    user_id TEXT NOT NULL PRIMARY KEY,
    keys_json BLOB NOT NULL,
    membership_nid INTEGER NOT NULL,
    cached_ts INTEGER NOT NULL
);
-- A user's newest membership event, found without a scan.
CREATE INDEX room_memberships_user_nid ON room_memberships (user_id, event_nid);
