-- Where state compression (hearth db compress-state, the background job) got to in each room: the last state group rewritten and the levels of the delta tree, so the next run continues the same tree with the groups made since.
CREATE TABLE state_compressor_progress (
    room_id TEXT PRIMARY KEY,
    -- The newest state group of the room already in the tree.
    last_group INTEGER NOT NULL,
    -- JSON [[max_length, chain_length, head_group], ...], lowest level first.
    levels TEXT NOT NULL
);
