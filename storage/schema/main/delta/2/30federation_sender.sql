-- The federation sender's persisted queues (a restart or kill -9 loses
-- nothing queued), its position in the event stream, and each
-- destination's retry state (Synapse's destinations table).
CREATE TABLE federation_stream_position (
    lock TEXT NOT NULL DEFAULT 'X' UNIQUE CHECK (lock = 'X'),
    stream_ordering INTEGER NOT NULL
);
-- Events already in the database when the sender first runs are history:
-- it starts after them.
INSERT INTO federation_stream_position (stream_ordering)
    SELECT coalesce(max(stream_ordering), 0) FROM events WHERE stream_ordering > 0;

CREATE TABLE federation_destinations (
    destination TEXT PRIMARY KEY NOT NULL,
    -- start of the current run of failures; NULL when the last
    -- transaction went through
    failure_ts INTEGER,
    retry_last_ts INTEGER NOT NULL DEFAULT 0,
    retry_interval INTEGER NOT NULL DEFAULT 0,
    last_successful_stream_ordering INTEGER
) WITHOUT ROWID;

CREATE TABLE federation_outbound_pdus (
    destination TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL,
    event_nid INTEGER NOT NULL REFERENCES events (event_nid) ON DELETE CASCADE,
    room_nid INTEGER NOT NULL,
    PRIMARY KEY (destination, stream_ordering)
) WITHOUT ROWID;
CREATE INDEX federation_outbound_pdus_event ON federation_outbound_pdus (event_nid);

CREATE TABLE federation_outbound_edus (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    edu_type TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE INDEX federation_outbound_edus_destination ON federation_outbound_edus (destination, id);
