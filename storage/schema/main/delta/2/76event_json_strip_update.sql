-- Event JSON stored whole before delta 2/75 is rewritten without the
-- members its events row holds, in the background (eventjson_update.go).
-- Rewriting leaves the content as it was, so the trigger that takes a
-- pruned event out of the indexes now fires only when the content changed.
DROP TRIGGER IF EXISTS event_indexes_censor;
CREATE TRIGGER event_indexes_censor AFTER UPDATE OF json ON event_json
WHEN NOT (json_valid(OLD.json) AND json_valid(NEW.json)
    AND json_extract(OLD.json, '$.content') IS json_extract(NEW.json, '$.content'))
BEGIN
    DELETE FROM event_relations WHERE event_nid = NEW.event_nid;
    DELETE FROM event_search WHERE rowid = NEW.event_nid;
END;

INSERT OR IGNORE INTO background_updates (update_name, progress_json, ordering)
SELECT 'event_json_strip', '{}', 76 WHERE EXISTS (SELECT 1 FROM event_json WHERE stripped = 0);
