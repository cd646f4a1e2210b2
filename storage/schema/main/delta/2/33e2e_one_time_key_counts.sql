-- The number of unclaimed one-time keys of each device and algorithm, kept by
-- triggers as keys are uploaded, claimed or go with their device, so
-- /keys/upload and /sync read it without counting every held key (a client
-- that uploads without others claiming holds thousands). A row can be 0.
CREATE TABLE e2e_one_time_key_counts (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_count INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

INSERT INTO e2e_one_time_key_counts (user_id, device_id, algorithm, key_count)
    SELECT user_id, device_id, algorithm, COUNT(*) FROM e2e_one_time_keys
    GROUP BY user_id, device_id, algorithm;

CREATE TRIGGER e2e_one_time_keys_count_insert AFTER INSERT ON e2e_one_time_keys BEGIN
    INSERT INTO e2e_one_time_key_counts (user_id, device_id, algorithm, key_count)
        VALUES (NEW.user_id, NEW.device_id, NEW.algorithm, 1)
        ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_count = key_count + 1;
END;

-- A claim deletes the key; deleting a device deletes its keys (and its
-- counts) through the foreign keys, which fires this trigger too.
CREATE TRIGGER e2e_one_time_keys_count_delete AFTER DELETE ON e2e_one_time_keys BEGIN
    UPDATE e2e_one_time_key_counts SET key_count = key_count - 1
        WHERE user_id = OLD.user_id AND device_id = OLD.device_id AND algorithm = OLD.algorithm;
END;

-- Keys are never moved today; should one be, its old and new places stay exact.
CREATE TRIGGER e2e_one_time_keys_count_move AFTER UPDATE OF user_id, device_id, algorithm ON e2e_one_time_keys BEGIN
    UPDATE e2e_one_time_key_counts SET key_count = key_count - 1
        WHERE user_id = OLD.user_id AND device_id = OLD.device_id AND algorithm = OLD.algorithm;
    INSERT INTO e2e_one_time_key_counts (user_id, device_id, algorithm, key_count)
        VALUES (NEW.user_id, NEW.device_id, NEW.algorithm, 1)
        ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_count = key_count + 1;
END;
