-- Answers to inbound federation transactions (PUT /send/{txnId}), replayed when an origin retries one.
CREATE TABLE received_transactions (
    origin TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    response_json BLOB NOT NULL,
    received_ts INTEGER NOT NULL,
    PRIMARY KEY (origin, txn_id)
);
CREATE INDEX received_transactions_received_ts ON received_transactions (received_ts);
