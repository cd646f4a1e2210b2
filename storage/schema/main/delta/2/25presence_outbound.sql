-- The federation sender's position in the "presence" stream: local users' presence changes
-- past it go to the servers sharing a room with them as m.presence EDUs. Changes made before
-- the sender first runs are history: it starts after them.
CREATE TABLE presence_outbound_position (
    lock TEXT NOT NULL DEFAULT 'X' UNIQUE CHECK (lock = 'X'),
    stream_id INTEGER NOT NULL
);
INSERT INTO presence_outbound_position (stream_id)
    SELECT stream_id FROM stream_positions WHERE stream_name = 'presence';
