-- The chain cover index of the auth DAG (Synapse's event_auth_chains and event_auth_chain_links, see
-- storage/authchain.go): every event gets a (chain_id, sequence_number); an event reaches every earlier event
-- of its own chain, and, through the links of its chain at or below its sequence number, every event of a
-- target chain up to target_sequence_number. Links are stored transitively closed, so a query never recurses.
CREATE TABLE IF NOT EXISTS event_auth_chains (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    chain_id INTEGER NOT NULL,
    sequence_number INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS event_auth_chains_chain_seq ON event_auth_chains (chain_id, sequence_number);

CREATE TABLE IF NOT EXISTS event_auth_chain_links (
    origin_chain_id INTEGER NOT NULL,
    origin_sequence_number INTEGER NOT NULL,
    target_chain_id INTEGER NOT NULL,
    target_sequence_number INTEGER NOT NULL,
    PRIMARY KEY (origin_chain_id, origin_sequence_number, target_chain_id)
) WITHOUT ROWID;

-- Stored events not yet in the index because one of their auth events is not indexed (not received yet, or
-- itself waiting); indexed as soon as their auth events are. auth_event_ids is a JSON array.
CREATE TABLE IF NOT EXISTS event_auth_chain_to_calculate (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    room_nid INTEGER NOT NULL,
    auth_event_ids TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_auth_chain_to_calculate_room ON event_auth_chain_to_calculate (room_nid);

-- State events stored before the index existed are indexed in the background. The statements are idempotent:
-- a database written by code that already indexes may get this delta again.
INSERT OR IGNORE INTO background_updates (update_name, progress_json, ordering)
SELECT 'event_auth_chains', '{}', 32 WHERE EXISTS (SELECT 1 FROM events WHERE state_key IS NOT NULL);
