-- The events of a room name the same few auth events one after the other:
-- each distinct auth_events list is stored once, and an event's stored
-- JSON (stripped bit 1<<7, eventjson.go) points to it by auth_set.
CREATE TABLE event_auth_sets (
    id INTEGER PRIMARY KEY,
    auth_events TEXT NOT NULL UNIQUE
);
ALTER TABLE event_json ADD COLUMN auth_set INTEGER;
