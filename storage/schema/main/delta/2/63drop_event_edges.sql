-- event_edges repeated every non-outlier's prev_events (60 bytes a message)
-- and no query read it: the DAG is walked from the events' JSON, and the
-- extremity tables hold what the writer needs.
DROP TABLE event_edges;
