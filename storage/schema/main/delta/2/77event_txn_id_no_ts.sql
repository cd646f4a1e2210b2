-- A transaction row's inserted_ts repeated its event's received_ts (both
-- are the time the send was stored): the retention now reads the event's.
ALTER TABLE event_txn_id DROP COLUMN inserted_ts;
