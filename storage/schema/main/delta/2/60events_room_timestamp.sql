-- /timestamp_to_event finds a room's event nearest a time through an index
-- instead of scanning the room's timeline: ordered as the lookup sorts
-- (time, then the timeline's order), timeline events only.
CREATE INDEX events_room_timestamp ON events (room_nid, origin_server_ts, topological_ordering, stream_ordering) WHERE outlier = 0;
