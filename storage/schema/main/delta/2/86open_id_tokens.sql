-- OpenID tokens a local user hands to a third party, which checks them with /_matrix/federation/v1/openid/userinfo (Synapse's open_id_tokens; the token is stored hashed).
CREATE TABLE open_id_tokens (
    token_hash BLOB NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    ts_valid_until_ms BIGINT NOT NULL
);
CREATE INDEX open_id_tokens_ts_valid_until_ms ON open_id_tokens (ts_valid_until_ms);
