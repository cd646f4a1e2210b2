-- Media of other servers fetched over federation, kept so a second download does not go out again; the
-- least recently used rows are evicted to keep the sum of sizes under media.remote_cache_max_bytes.
-- variant is '' for the content, the thumbnail's query (width, height, method, animated) otherwise.
CREATE TABLE remote_media_cache (
    server_name TEXT NOT NULL,
    media_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_disposition TEXT NOT NULL,
    content BLOB NOT NULL,
    size INTEGER NOT NULL,
    last_access_ts INTEGER NOT NULL,
    PRIMARY KEY (server_name, media_id, variant)
);
CREATE INDEX remote_media_cache_last_access ON remote_media_cache (last_access_ts);
