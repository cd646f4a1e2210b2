-- Full schema of the logical database "main" at version 1: everything but
-- room state groups.

-- Facts about the server fixed at creation (server_name: a homeserver
-- cannot be renamed).
CREATE TABLE server_config (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- Rooms the server knows of. room_nid is the compact key the event tables
-- use instead of repeating the room ID's ~45 bytes in every row and index
-- entry.
CREATE TABLE rooms (
    room_nid INTEGER PRIMARY KEY,
    room_id TEXT NOT NULL UNIQUE,
    room_version TEXT NOT NULL,
    creator TEXT,
    is_public INTEGER NOT NULL DEFAULT 0
);

-- Stream id generators (seed 000's id_generators): the last position given
-- out per stream, advanced inside the write transaction that uses it, so a
-- rolled-back write gives its ids back and a restart resumes where the
-- database is. "events" counts up from 1 for live events; "backfill" counts
-- down from -1 for events fetched from history.
CREATE TABLE stream_positions (
    stream_name TEXT NOT NULL PRIMARY KEY,
    stream_id INTEGER NOT NULL
);
INSERT INTO stream_positions (stream_name, stream_id) VALUES ('events', 0), ('backfill', 0);

-- Every stored event's metadata (Synapse's events). event_nid is the
-- internal key the other event tables use; stream_ordering is the /sync
-- position (negative for backfilled events), topological_ordering the depth.
-- An event with rejection_reason set was rejected by the auth rules. The two
-- room indexes leave outliers out: they are never in a timeline.
CREATE TABLE events (
    event_nid INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    room_nid INTEGER NOT NULL REFERENCES rooms (room_nid),
    type TEXT NOT NULL,
    state_key TEXT,
    sender TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL UNIQUE,
    topological_ordering INTEGER NOT NULL,
    origin_server_ts INTEGER NOT NULL,
    received_ts INTEGER NOT NULL,
    outlier INTEGER NOT NULL DEFAULT 0,
    soft_failed INTEGER NOT NULL DEFAULT 0,
    rejection_reason TEXT,
    contains_url INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_room_topological ON events (room_nid, topological_ordering, stream_ordering) WHERE outlier = 0;
CREATE INDEX events_room_stream ON events (room_nid, stream_ordering) WHERE outlier = 0;

-- The JSON of each event, stored once (the room and event ID are in events).
CREATE TABLE event_json (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    internal_metadata TEXT,
    json TEXT NOT NULL,
    format_version INTEGER NOT NULL
);

-- The room DAG (seed 004): one row per prev_event of a non-outlier. The
-- previous event need not be stored, so it is named by ID.
CREATE TABLE event_edges (
    event_nid INTEGER NOT NULL REFERENCES events (event_nid) ON DELETE CASCADE,
    prev_event_id TEXT NOT NULL,
    PRIMARY KEY (event_nid, prev_event_id)
) WITHOUT ROWID;

-- Forward extremities (seed 004): the events no other counted event
-- references yet, the prev_events of the next event sent.
CREATE TABLE event_forward_extremities (
    room_nid INTEGER NOT NULL,
    event_nid INTEGER NOT NULL REFERENCES events (event_nid) ON DELETE CASCADE,
    PRIMARY KEY (room_nid, event_nid)
) WITHOUT ROWID;

-- Backward extremities (seed 004): prev_events of stored events that are not
-- stored as non-outliers, where backfilling continues. has_successor says a
-- non-soft-failed event references it, so that once stored it is not a
-- forward extremity (this replaces an index on event_edges.prev_event_id).
CREATE TABLE event_backward_extremities (
    room_nid INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    has_successor INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_nid, event_id)
) WITHOUT ROWID;

-- The current state of each room: the resolution of the states at its
-- forward extremities, as computed by core. membership repeats
-- content.membership for m.room.member rows.
CREATE TABLE current_state_events (
    room_nid INTEGER NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_nid INTEGER NOT NULL,
    membership TEXT,
    PRIMARY KEY (room_nid, type, state_key)
) WITHOUT ROWID;

-- One row per stored m.room.member event: who, in which room, what.
CREATE TABLE room_memberships (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    room_nid INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    membership TEXT NOT NULL
);

-- The latest membership of each local user in each room, including
-- out-of-band memberships (remote invites, their rejections, knocks) that
-- are not in the room's state: what /sync lists as joined, invited, left.
CREATE TABLE local_current_membership (
    user_id TEXT NOT NULL,
    room_nid INTEGER NOT NULL,
    event_nid INTEGER NOT NULL,
    membership TEXT NOT NULL,
    PRIMARY KEY (user_id, room_nid)
) WITHOUT ROWID;

-- m.room.redaction events and the event each one targets (which may not be
-- stored yet); have_censored is set once the target's JSON is pruned.
CREATE TABLE redactions (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    redacts TEXT NOT NULL,
    have_censored INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX redactions_redacts ON redactions (redacts);

-- Client transaction ids of events sent by local devices, so a retried send
-- returns the first event instead of sending another.
CREATE TABLE event_txn_id (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    room_nid INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    inserted_ts INTEGER NOT NULL,
    UNIQUE (user_id, device_id, txn_id, room_nid)
);

-- The state group of the state after each non-outlier event (seed 003). It
-- lives in main, as in Synapse: with "state" in a file of its own, this
-- mapping stays with the events. No index on state_group (Synapse has one,
-- for purges): it would cost every event a page write.
CREATE TABLE event_to_state_groups (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    state_group INTEGER NOT NULL
);

-- e2ee: end-to-end encryption keys of local devices, cross-signing keys and
-- signatures, the device list stream, to-device messages and key backups.

-- Stream positions for /sync: "to_device" numbers queued to-device messages,
-- "device_lists" numbers changes of local users' devices and keys.
INSERT INTO stream_positions (stream_name, stream_id) VALUES ('to_device', 0), ('device_lists', 0);

-- The identity keys each local device uploaded (POST /keys/upload), as JSON.
-- The e2e tables keyed by device go with the device (ON DELETE CASCADE).
CREATE TABLE e2e_device_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Unclaimed one-time keys; a claimed key is deleted. id gives the upload
-- order, in which keys are handed out.
CREATE TABLE e2e_one_time_keys (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    UNIQUE (user_id, device_id, algorithm, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- The fallback key of each device and algorithm (at most one); used is set
-- once it has been handed out by /keys/claim.
CREATE TABLE e2e_fallback_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Local users' cross-signing keys as uploaded: key_type is master,
-- self_signing or user_signing; public_key is the unpadded base64 key.
CREATE TABLE e2e_cross_signing_keys (
    user_id TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
) WITHOUT ROWID;

-- Signatures uploaded with /keys/signatures/upload: user_id's key key_id
-- signed target_user_id's device or cross-signing key target_key_id (a
-- device ID or a public key). Merged into the target when it is queried.
CREATE TABLE e2e_cross_signing_signatures (
    target_user_id TEXT NOT NULL,
    target_key_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key_id, user_id, key_id)
) WITHOUT ROWID;

-- The last position of the "device_lists" stream at which each local user's
-- devices or keys changed (one row per user: a sync only needs to know that
-- a user changed since its token).
CREATE TABLE device_list_changes (
    user_id TEXT NOT NULL PRIMARY KEY,
    stream_id INTEGER NOT NULL
);
CREATE INDEX device_list_changes_stream ON device_list_changes (stream_id);

-- To-device messages waiting for a local device, as {"sender","type",
-- "content"}, in the order of the "to_device" stream; deleted once the
-- device syncs with a token past them.
CREATE TABLE device_inbox (
    stream_id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    message_json TEXT NOT NULL,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX device_inbox_device ON device_inbox (user_id, device_id, stream_id);

-- Transaction ids of PUT /sendToDevice/{eventType}/{txnId} per sending
-- device, so a retried request delivers nothing twice (the spec scopes a
-- transaction to the device and the request path, hence event_type).
CREATE TABLE to_device_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    inserted_ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id, event_type, txn_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Key backup versions of each user. A deleted version keeps its row
-- (deleted = 1) so its number is never given again; etag counts changes to
-- its keys.
CREATE TABLE e2e_room_keys_versions (
    user_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
) WITHOUT ROWID;

-- Backed-up megolm session keys, per user, backup version, room and session.
CREATE TABLE e2e_room_keys (
    user_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    room_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_message_index INTEGER NOT NULL,
    forwarded_count INTEGER NOT NULL,
    is_verified INTEGER NOT NULL,
    session_data TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
) WITHOUT ROWID;

-- media: the content repository (client-server API "Content repository").
-- Content lives in this database, cut in blocks, so the whole homeserver
-- stays one file and no upload, download or thumbnail holds a whole file in
-- memory or a connection for longer than one block.

-- Each distinct content once (deduplicated by sha256). sha256 is NULL while
-- the blocks are still being written; such a row older than a day is the
-- leftover of an interrupted upload and is deleted.
CREATE TABLE media_blobs (
    blob_id INTEGER PRIMARY KEY,
    sha256 BLOB UNIQUE,
    size INTEGER NOT NULL,
    block_size INTEGER NOT NULL,
    created_ts INTEGER NOT NULL
);
CREATE INDEX media_blobs_incomplete ON media_blobs (created_ts) WHERE sha256 IS NULL;

-- The bytes of each blob: block seq holds bytes [seq*block_size,
-- (seq+1)*block_size).
CREATE TABLE media_blocks (
    blob_id INTEGER NOT NULL REFERENCES media_blobs (blob_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (blob_id, seq)
);

-- One row per local media ID (the mxc://<server_name>/<media_id> URIs).
-- blob_id is NULL for an ID made by POST /media/v1/create whose content has
-- not arrived; unused_expires_ts is when that reservation lapses.
-- legacy_download: uploaded while the unauthenticated endpoints were not
-- frozen, so they may keep serving it.
CREATE TABLE media (
    media_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    upload_name TEXT NOT NULL DEFAULT '',
    created_ts INTEGER NOT NULL,
    unused_expires_ts INTEGER,
    blob_id INTEGER REFERENCES media_blobs (blob_id),
    legacy_download INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX media_blob ON media (blob_id);
CREATE INDEX media_pending ON media (user_id, unused_expires_ts) WHERE blob_id IS NULL;

-- Thumbnails made from a blob, by the size, method and animation they were
-- asked with. original = 1 says the blob itself serves (it is no larger than
-- asked), and data is then empty.
CREATE TABLE media_thumbnails (
    blob_id INTEGER NOT NULL REFERENCES media_blobs (blob_id) ON DELETE CASCADE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    animated INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    thumb_width INTEGER NOT NULL,
    thumb_height INTEGER NOT NULL,
    original INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL,
    created_ts INTEGER NOT NULL,
    PRIMARY KEY (blob_id, width, height, method, animated)
);

-- accounts: local users, their devices, access/refresh/login tokens and
-- registration tokens.

-- Local user accounts. password_hash is an argon2id PHC string, NULL for an
-- account without a password (deactivation wipes it). creation_ts is in
-- milliseconds.
CREATE TABLE users (
    user_id TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT,
    admin INTEGER NOT NULL DEFAULT 0,
    deactivated INTEGER NOT NULL DEFAULT 0,
    user_type TEXT,
    creation_ts INTEGER NOT NULL
) WITHOUT ROWID;

-- The devices (logged-in clients) of local users; last_seen_* are updated
-- at most every few minutes.
CREATE TABLE devices (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    device_id TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts INTEGER,
    last_seen_ip TEXT,
    PRIMARY KEY (user_id, device_id)
) WITHOUT ROWID;

-- Refresh tokens, by SHA-256 of the token (never the token itself).
-- next_token_id is the token issued in exchange for this one; this one stays
-- usable until the next one's access token or refresh token is used.
CREATE TABLE refresh_tokens (
    id INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    next_token_id INTEGER,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_next ON refresh_tokens (next_token_id);

-- Access tokens, by SHA-256 of the token (never the token itself).
-- valid_until_ms is NULL for tokens that do not expire; refreshable tokens
-- expire and name their refresh token. used is set at first use.
CREATE TABLE access_tokens (
    id INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    valid_until_ms INTEGER,
    refresh_token_id INTEGER REFERENCES refresh_tokens (id) ON DELETE CASCADE,
    used INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_id);

-- Single-use, short-lived m.login.token tokens, by SHA-256.
CREATE TABLE login_tokens (
    token_hash BLOB NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id),
    expiry_ts INTEGER NOT NULL
) WITHOUT ROWID;

-- Registration tokens (m.login.registration_token). pending counts
-- registrations past the token stage but not finished, completed those
-- finished; uses_allowed NULL is unlimited, expiry_time (ms) NULL never.
-- setup = 1 marks the one-time token printed at first start: accepted even
-- when registration is closed, only while no account exists, and it makes
-- its registrant an admin.
CREATE TABLE registration_tokens (
    token TEXT NOT NULL PRIMARY KEY,
    uses_allowed INTEGER,
    pending INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    expiry_time INTEGER,
    setup INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- room pipeline: the server's signing keys, local room aliases and the rooms
-- users have forgotten.

-- The server's ed25519 signing keys, as 32-byte seeds, made once at first
-- start. expired_ts is NULL for the key in use, else when it stopped signing.
CREATE TABLE server_keys (
    key_id TEXT NOT NULL PRIMARY KEY,
    seed BLOB NOT NULL,
    created_ts INTEGER NOT NULL,
    expired_ts INTEGER
);

-- Local room aliases (#name:this.server), the room each maps to and the user
-- who made the mapping.
CREATE TABLE room_aliases (
    alias TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Rooms local users have forgotten (POST /forget), as of the membership event
-- (their leave or ban) they forgot them at: any later membership event brings
-- the room back.
CREATE TABLE room_forgotten (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
) WITHOUT ROWID;

-- personal data: profiles, account data (room tags included), push rules,
-- pushers, notifications, read receipts and presence.

-- Local users' profile fields (displayname, avatar_url, m.tz, custom keys),
-- each value as JSON.
CREATE TABLE profile_fields (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;

-- Account data, global (room_id '') and per room (m.tag holds the room's
-- tags, m.fully_read its read marker). stream_id is the position of the last
-- change in the "account_data" stream /sync reads.
CREATE TABLE account_data (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    stream_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
) WITHOUT ROWID;
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);

-- Users' own push rules, one JSON push rule each; priority orders the rules
-- of one kind, highest first.
CREATE TABLE push_rules (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    rule TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, rule_id)
) WITHOUT ROWID;

-- Users' changes to server-default push rules: enabled (0/1) and actions
-- (JSON); NULL keeps the default.
CREATE TABLE push_rule_defaults (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    enabled INTEGER,
    actions TEXT,
    PRIMARY KEY (user_id, kind, rule_id)
) WITHOUT ROWID;

-- Pushers (POST /pushers/set), one per user, app ID and pushkey; data is the
-- JSON the client gave (with url for http pushers); pushkey_ts in
-- milliseconds.
CREATE TABLE pushers (
    pusher_id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    pushkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    app_display_name TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL,
    data TEXT NOT NULL,
    pushkey_ts INTEGER NOT NULL,
    device_id TEXT NOT NULL DEFAULT '',
    UNIQUE (user_id, app_id, pushkey)
);
CREATE INDEX pushers_key ON pushers (app_id, pushkey);

-- One row per event that notified a local user (its push rules said
-- notify): unread counts are the rows after the user's read receipts, per
-- thread (thread_id 'main' or a thread root); GET /notifications lists them.
CREATE TABLE event_push_actions (
    user_id TEXT NOT NULL,
    event_nid INTEGER NOT NULL REFERENCES events (event_nid) ON DELETE CASCADE,
    room_nid INTEGER NOT NULL,
    stream_ordering INTEGER NOT NULL,
    thread_id TEXT NOT NULL,
    actions TEXT NOT NULL,
    highlight INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, event_nid)
) WITHOUT ROWID;
CREATE INDEX event_push_actions_room ON event_push_actions (user_id, room_nid, stream_ordering);
CREATE INDEX event_push_actions_stream ON event_push_actions (user_id, stream_ordering);

-- Each user's latest read receipt per room, type and thread (thread_id ''
-- for an unthreaded receipt). event_stream is the receipted event's stream
-- ordering; stream_id the receipt's position in the "receipts" stream.
CREATE TABLE receipts (
    room_nid INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_stream INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    stream_id INTEGER NOT NULL,
    PRIMARY KEY (room_nid, user_id, receipt_type, thread_id)
) WITHOUT ROWID;
CREATE INDEX receipts_stream ON receipts (stream_id);

-- Users' presence: state (online, unavailable, offline), status message and
-- last activity (milliseconds); stream_id is the position of the last
-- visible change in the "presence" stream.
CREATE TABLE presence (
    user_id TEXT NOT NULL PRIMARY KEY,
    state TEXT NOT NULL,
    status_msg TEXT,
    last_active_ts INTEGER NOT NULL,
    stream_id INTEGER NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);

INSERT INTO stream_positions (stream_name, stream_id) VALUES ('account_data', 0), ('receipts', 0), ('presence', 0);

-- sync: stored filters, the relations between events and the full-text
-- search index, both filled by triggers as event JSON is stored (so every
-- way of persisting events indexes them), for /sync, /relations, /threads
-- and /search.

-- Filters uploaded with POST /user/{userId}/filter, numbered per user.
CREATE TABLE user_filters (
    user_id TEXT NOT NULL,
    filter_id INTEGER NOT NULL,
    filter_json TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
) WITHOUT ROWID;

-- One row per event whose content has an m.relates_to with a string
-- rel_type and event_id: the parent it relates to, how, and the annotation
-- key (m.annotation).
CREATE TABLE event_relations (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    room_nid INTEGER NOT NULL,
    relates_to_id TEXT NOT NULL,
    rel_type TEXT NOT NULL,
    aggregation_key TEXT
);
CREATE INDEX event_relations_parent ON event_relations (relates_to_id, rel_type);

-- The threads of each room (m.thread relations) and the position of the
-- latest event in each, for GET /threads.
CREATE TABLE threads (
    room_nid INTEGER NOT NULL,
    root_event_id TEXT NOT NULL,
    latest_event_nid INTEGER NOT NULL,
    topological_ordering INTEGER NOT NULL,
    stream_ordering INTEGER NOT NULL,
    PRIMARY KEY (room_nid, root_event_id)
) WITHOUT ROWID;
CREATE INDEX threads_latest ON threads (room_nid, topological_ordering, stream_ordering);

-- The text of m.room.message bodies, m.room.name names and m.room.topic
-- topics (content.topic and the text/plain m.topic), rowid = event_nid.
-- Contentless: the text is in event_json already.
CREATE VIRTUAL TABLE event_search USING fts5 (
    body, name, topic,
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);

-- Index an event's relation and text when its JSON is stored.
CREATE TRIGGER event_relations_index AFTER INSERT ON event_json
WHEN instr(NEW.json, 'm.relates_to') > 0 AND json_valid(NEW.json)
BEGIN
    INSERT OR IGNORE INTO event_relations (event_nid, room_nid, relates_to_id, rel_type, aggregation_key)
    SELECT NEW.event_nid, e.room_nid,
        json_extract(NEW.json, '$.content."m.relates_to".event_id'),
        json_extract(NEW.json, '$.content."m.relates_to".rel_type'),
        CASE WHEN json_type(NEW.json, '$.content."m.relates_to".key') = 'text'
            THEN json_extract(NEW.json, '$.content."m.relates_to".key') END
    FROM events e
    WHERE e.event_nid = NEW.event_nid
        AND json_type(NEW.json, '$.content."m.relates_to".event_id') = 'text'
        AND json_type(NEW.json, '$.content."m.relates_to".rel_type') = 'text';
END;

CREATE TRIGGER threads_index AFTER INSERT ON event_relations
WHEN NEW.rel_type = 'm.thread'
BEGIN
    INSERT INTO threads (room_nid, root_event_id, latest_event_nid, topological_ordering, stream_ordering)
    SELECT NEW.room_nid, NEW.relates_to_id, NEW.event_nid, e.topological_ordering, e.stream_ordering
    FROM events e
    WHERE e.event_nid = NEW.event_nid AND e.outlier = 0 AND e.rejection_reason IS NULL AND e.soft_failed = 0
    ON CONFLICT (room_nid, root_event_id) DO UPDATE SET
        latest_event_nid = excluded.latest_event_nid,
        topological_ordering = excluded.topological_ordering,
        stream_ordering = excluded.stream_ordering
    WHERE (excluded.topological_ordering, excluded.stream_ordering)
        > (threads.topological_ordering, threads.stream_ordering);
END;

CREATE TRIGGER event_search_index AFTER INSERT ON event_json
WHEN (SELECT type FROM events WHERE event_nid = NEW.event_nid) IN ('m.room.message', 'm.room.name', 'm.room.topic')
    AND json_valid(NEW.json)
BEGIN
    INSERT INTO event_search (rowid, body, name, topic)
    SELECT NEW.event_nid, t.body, t.name, t.topic FROM (
        SELECT
            CASE WHEN e.type = 'm.room.message' AND json_type(NEW.json, '$.content.body') = 'text'
                THEN json_extract(NEW.json, '$.content.body') END AS body,
            CASE WHEN e.type = 'm.room.name' AND json_type(NEW.json, '$.content.name') = 'text'
                THEN json_extract(NEW.json, '$.content.name') END AS name,
            CASE WHEN e.type = 'm.room.topic' THEN nullif(concat_ws(' ',
                CASE WHEN json_type(NEW.json, '$.content.topic') = 'text' THEN json_extract(NEW.json, '$.content.topic') END,
                (SELECT b FROM (SELECT CASE WHEN m.type = 'object' THEN
                        CASE WHEN json_type(m.value, '$.body') = 'text'
                            AND coalesce(json_extract(m.value, '$.mimetype'), 'text/plain') = 'text/plain'
                        THEN json_extract(m.value, '$.body') END END AS b
                    FROM json_each(NEW.json, '$.content."m.topic"."m.text"') m)
                 WHERE b IS NOT NULL LIMIT 1)), '') END AS topic
        FROM events e WHERE e.event_nid = NEW.event_nid
    ) t
    WHERE t.body IS NOT NULL OR t.name IS NOT NULL OR t.topic IS NOT NULL;
END;

-- A redacted event's JSON is pruned in place: it leaves the indexes.
CREATE TRIGGER event_indexes_censor AFTER UPDATE OF json ON event_json
BEGIN
    DELETE FROM event_relations WHERE event_nid = NEW.event_nid;
    DELETE FROM event_search WHERE rowid = NEW.event_nid;
END;

CREATE TRIGGER event_search_delete AFTER DELETE ON event_json
BEGIN
    DELETE FROM event_search WHERE rowid = OLD.event_nid;
END;

-- admin rooms: the rooms a server admin blocked (Synapse's admin room API),
-- and what purging a room needs.

-- Blocked rooms: local users may not join them. A block outlives a purge of
-- the room, and may name a room the server does not know.
CREATE TABLE blocked_rooms (
    room_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL
) WITHOUT ROWID;

-- Deleting an event (a room purge) looks up its notifications by event_nid
-- for the foreign key: without this index, each deleted event scans every
-- notification of every room.
CREATE INDEX event_push_actions_event ON event_push_actions (event_nid);
