-- The stream_id of the newest m.device_list_update seen for each remote user, kept across drops of their
-- cached keys: an update whose prev_id names it follows the last one seen and is applied to the cached keys
-- in place; any other drops them (the next query resyncs).
CREATE TABLE remote_device_list_streams (
    user_id TEXT NOT NULL PRIMARY KEY,
    stream_id INTEGER NOT NULL
);
