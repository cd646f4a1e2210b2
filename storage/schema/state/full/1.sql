-- Full schema of the logical database "state" at version 1: state groups
-- (seed 003).

-- One row per state group (seed 003): a set of room state, the room it
-- belongs to and the event that first had it. AUTOINCREMENT: an id is never
-- reused, even after the newest group is deleted, since event_to_state_groups
-- (in main, possibly another file) may still name it.
CREATE TABLE state_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL
);
CREATE INDEX state_groups_room_id ON state_groups (room_id);

-- The group a delta group is based on. A group without a row here is a full
-- snapshot; chains are kept at most 100 hops long.
CREATE TABLE state_group_edges (
    state_group INTEGER PRIMARY KEY,
    prev_state_group INTEGER NOT NULL
);
CREATE INDEX state_group_edges_prev ON state_group_edges (prev_state_group);

-- The state of each group: all of it for a snapshot, the changes from the
-- previous group for a delta. An empty event_id in a delta records that the
-- key is removed (absent from the group's state).
CREATE TABLE state_groups_state (
    state_group INTEGER NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (state_group, type, state_key)
) WITHOUT ROWID;
