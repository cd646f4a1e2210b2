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
-- mapping stays with the events.
CREATE TABLE event_to_state_groups (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    state_group INTEGER NOT NULL
);
CREATE INDEX event_to_state_groups_sg ON event_to_state_groups (state_group);

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

-- Thumbnails made from a blob, by the size and method they were made for.
-- original = 1 says the blob itself serves (it is no larger than asked), and
-- data is then empty.
CREATE TABLE media_thumbnails (
    blob_id INTEGER NOT NULL REFERENCES media_blobs (blob_id) ON DELETE CASCADE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    content_type TEXT NOT NULL,
    thumb_width INTEGER NOT NULL,
    thumb_height INTEGER NOT NULL,
    original INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL,
    created_ts INTEGER NOT NULL,
    PRIMARY KEY (blob_id, width, height, method)
);
