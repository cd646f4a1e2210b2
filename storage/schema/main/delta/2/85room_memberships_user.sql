-- A user's membership events of a room, found without a scan: history visibility asks where a user last joined.
CREATE INDEX room_memberships_room_user ON room_memberships (room_nid, user_id);
