-- Ephemeral events (typing, receipts, presence) queued for each application service, kept until the service accepts them, and the bounds of each service's transaction in flight, so a retry, even after a restart, sends the same transaction under the same ID.
CREATE TABLE appservice_ephemeral (
    ephemeral_id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX appservice_ephemeral_service ON appservice_ephemeral (service, ephemeral_id);
-- NULL: no transaction in flight.
ALTER TABLE appservice_stream_position ADD COLUMN pending_stream_ordering INTEGER;
ALTER TABLE appservice_stream_position ADD COLUMN pending_ephemeral_id INTEGER;
