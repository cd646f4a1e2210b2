-- The full-text index is written in batches after the events' commits
-- (searchindex.go), not by a trigger in each event's own write; the
-- positions say up to which live and backfilled stream ordering it holds
-- the events (all of them so far: the trigger indexed them as stored).
DROP TRIGGER IF EXISTS event_search_index;
INSERT OR IGNORE INTO stream_positions (stream_name, stream_id)
SELECT 'search_index', stream_id FROM stream_positions WHERE stream_name = 'events';
INSERT OR IGNORE INTO stream_positions (stream_name, stream_id)
SELECT 'search_index_backfill', stream_id FROM stream_positions WHERE stream_name = 'backfill';
