-- To-device messages from users of other servers (m.direct_to_device EDUs)
-- are queued once per message_id: their senders have no device here, so
-- to_device_txns (keyed to a local device) cannot record them.
CREATE TABLE federation_to_device_txns (
    user_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    inserted_ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, event_type, txn_id)
) WITHOUT ROWID;
