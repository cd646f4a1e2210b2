-- The /timestamp_to_event index keeps the room and time only: the few events
-- of one millisecond are put in timeline order after the lookup, so the two
-- orderings need not be stored again in every entry.
DROP INDEX events_room_timestamp;
CREATE INDEX events_room_timestamp ON events (room_nid, origin_server_ts) WHERE outlier = 0;
