-- An event's JSON is stored without the members its events row repeats
-- (room, sender, type, state key, timestamp, depth; the ID in room versions
-- 1 and 2): stripped says which were taken out (eventjson.go), 0 for rows
-- stored whole, as every row before this delta was.
ALTER TABLE event_json ADD COLUMN stripped INTEGER NOT NULL DEFAULT 0;
