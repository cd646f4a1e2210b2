-- The terms of the full-text index (one row per occurrence), so a search
-- word can be looked up as the words it begins (searchterms.go): a prefix
-- query FTS5 runs itself merges every posting of those words first.
CREATE VIRTUAL TABLE event_search_terms USING fts5vocab(event_search, instance);
