-- Each application service's place in the event stream and the ID of its
-- next transaction: the events after the place that interest the service
-- are its queue, so a restart or kill -9 loses nothing not yet delivered.
CREATE TABLE appservice_stream_position (
    service TEXT PRIMARY KEY NOT NULL,
    stream_ordering INTEGER NOT NULL,
    txn_id INTEGER NOT NULL
);
