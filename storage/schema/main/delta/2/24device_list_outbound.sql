-- Local users' device changes for other servers (Synapse's device_lists_stream and
-- device_lists_outbound_pokes in one table): each new, renamed, deleted or re-keyed device
-- takes its own position of the "device_lists" stream in the transaction that changes it.
-- The federation sender turns the rows past device_list_outbound_position into
-- m.device_list_update EDUs for the servers sharing a room with the user. A user's newest
-- row is the stream_id GET /user/devices answers and the prev_id of the user's next EDU;
-- older rows are dropped once sent.
CREATE TABLE device_list_outbound (
    stream_id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX device_list_outbound_user ON device_list_outbound (user_id, stream_id);

CREATE TABLE device_list_outbound_position (
    lock TEXT NOT NULL DEFAULT 'X' UNIQUE CHECK (lock = 'X'),
    stream_id INTEGER NOT NULL
);
INSERT INTO device_list_outbound_position (stream_id)
    SELECT stream_id FROM stream_positions WHERE stream_name = 'device_lists';
