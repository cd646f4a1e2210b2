package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/push"
)

// accountDataStream numbers account data changes.
var accountDataStream = StreamIDs{Name: "account_data", Step: 1}

// AccountDataStore keeps users' account data, global and per room, room
// tags included. It implements core.AccountDataStore and, for /sync, the
// account data source of core/clientsync.
type AccountDataStore struct {
	db *DB
	// ignored keeps users' ignore lists, which /sync and /messages read
	// on every request.
	ignored ignoredLists
}

// maxIgnoredLists bounds how many users' ignore lists are kept.
const maxIgnoredLists = 1024

// ignoredLists are users' ignore lists as read at one position of the
// account data stream: every write of account data takes a new position
// (setAccountData), and a read at another position reads afresh. (Purging
// a room deletes only that room's account data; an ignore list is
// global.)
type ignoredLists struct {
	mu    sync.Mutex
	pos   int64
	users map[string]map[string]bool
}

var (
	_ core.AccountDataStore        = (*AccountDataStore)(nil)
	_ clientsync.AccountDataSource = (*AccountDataStore)(nil)
)

// NewAccountDataStore returns the account data store of db.
func NewAccountDataStore(db *DB) *AccountDataStore { return &AccountDataStore{db: db} }

const (
	sqlAccountDataGet = "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?"
	sqlAccountDataSet = `INSERT INTO account_data (user_id, room_id, type, content, stream_id) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id`
)

// setAccountData writes one account data event in the write transaction q
// and returns its stream position.
func setAccountData(ctx context.Context, q Queryer, userID, roomID, eventType string, content []byte) (int64, error) {
	pos, err := accountDataStream.Next(ctx, q, 1)
	if err != nil {
		return 0, err
	}
	if _, err := q.ExecContext(ctx, sqlAccountDataSet, userID, roomID, eventType, string(content), pos); err != nil {
		return 0, fmt.Errorf("storage: account data %s of %s: %w", eventType, userID, err)
	}
	return pos, nil
}

// getAccountData reads one account data event's content, or nil.
func getAccountData(ctx context.Context, q Queryer, userID, roomID, eventType string) ([]byte, error) {
	var c string
	err := q.QueryRowContext(ctx, sqlAccountDataGet, userID, roomID, eventType).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: account data %s of %s: %w", eventType, userID, err)
	}
	return []byte(c), nil
}

// defaultPushRulesContent is the m.push_rules content of a user who never
// changed their push rules.
func defaultPushRulesContent(userID string) (json.RawMessage, error) {
	b, err := json.Marshal(map[string]push.Ruleset{"global": push.Merge(userID, push.Ruleset{}, nil)})
	if err != nil {
		return nil, fmt.Errorf("storage: default push rules: %w", err)
	}
	return b, nil
}

// AccountData implements core.AccountDataStore.
func (s *AccountDataStore) AccountData(ctx context.Context, userID, roomID, eventType string) (json.RawMessage, error) {
	c, err := getAccountData(ctx, s.db.Cached(), userID, roomID, eventType)
	if err != nil {
		return nil, err
	}
	if c == nil {
		if roomID == "" && eventType == core.AccountDataPushRules {
			return defaultPushRulesContent(userID)
		}
		return nil, notFound("account data %s of %s", eventType, userID)
	}
	return c, nil
}

// SetAccountData implements core.AccountDataStore.
func (s *AccountDataStore) SetAccountData(ctx context.Context, userID, roomID, eventType string, content json.RawMessage) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(q Queryer) error {
		var err error
		pos, err = setAccountData(ctx, q, userID, roomID, eventType, content)
		return err
	})
	return pos, err
}

// tagContent is the content of m.tag.
type tagContent struct {
	Tags map[string]json.RawMessage `json:"tags"`
}

func parseTags(c []byte) map[string]json.RawMessage {
	var t tagContent
	if c == nil || json.Unmarshal(c, &t) != nil || t.Tags == nil {
		return map[string]json.RawMessage{}
	}
	return t.Tags
}

// RoomTags implements core.AccountDataStore.
func (s *AccountDataStore) RoomTags(ctx context.Context, userID, roomID string) (map[string]json.RawMessage, error) {
	c, err := getAccountData(ctx, s.db.Cached(), userID, roomID, core.AccountDataTag)
	if err != nil {
		return nil, err
	}
	return parseTags(c), nil
}

// SetRoomTag implements core.AccountDataStore.
func (s *AccountDataStore) SetRoomTag(ctx context.Context, userID, roomID, tag string, content json.RawMessage) (int64, error) {
	return s.updateTags(ctx, userID, roomID, func(tags map[string]json.RawMessage) bool {
		tags[tag] = content
		return true
	})
}

// DeleteRoomTag implements core.AccountDataStore.
func (s *AccountDataStore) DeleteRoomTag(ctx context.Context, userID, roomID, tag string) (int64, error) {
	return s.updateTags(ctx, userID, roomID, func(tags map[string]json.RawMessage) bool {
		if _, ok := tags[tag]; !ok {
			return false
		}
		delete(tags, tag)
		return true
	})
}

// updateTags reads m.tag, lets change edit the tags and writes them back
// when it reports a change, in one transaction. It returns the position of
// m.tag (the current one when nothing changed).
func (s *AccountDataStore) updateTags(ctx context.Context, userID, roomID string, change func(map[string]json.RawMessage) bool) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(q Queryer) error {
		c, err := getAccountData(ctx, q, userID, roomID, core.AccountDataTag)
		if err != nil {
			return err
		}
		tags := parseTags(c)
		if !change(tags) {
			pos, err = accountDataStream.Current(ctx, q)
			return err
		}
		b, err := json.Marshal(tagContent{Tags: tags})
		if err != nil {
			return fmt.Errorf("storage: tags of %s: %w", userID, err)
		}
		pos, err = setAccountData(ctx, q, userID, roomID, core.AccountDataTag, b)
		return err
	})
	return pos, err
}

// IgnoredUsers implements core.AccountDataStore.
//
// The lists are kept by the account data stream's position: the position
// a read with ctx may use is taken first, so the list read after it is at
// least as new as the position it is kept under.
func (s *AccountDataStore) IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error) {
	pos, err := s.db.position(ctx, accountDataStream)
	if err != nil {
		return nil, err
	}
	l := &s.ignored
	l.mu.Lock()
	kept, ok := l.users[userID]
	ok = ok && l.pos == pos
	l.mu.Unlock()
	if ok {
		return maps.Clone(kept), nil
	}
	c, err := getAccountData(ctx, s.db.Cached(), userID, "", core.AccountDataIgnoredUsers)
	if err != nil {
		return nil, err
	}
	users := ParseIgnoredUsers(c)
	l.mu.Lock()
	if l.pos != pos || l.users == nil || len(l.users) >= maxIgnoredLists {
		l.pos, l.users = pos, map[string]map[string]bool{}
	}
	l.users[userID] = maps.Clone(users)
	l.mu.Unlock()
	return users, nil
}

// ParseIgnoredUsers reads the user IDs of m.ignored_user_list content
// (empty for content that is absent or malformed).
func ParseIgnoredUsers(content []byte) map[string]bool {
	var l struct {
		IgnoredUsers map[string]json.RawMessage `json:"ignored_users"`
	}
	out := map[string]bool{}
	if content == nil || json.Unmarshal(content, &l) != nil {
		return out
	}
	for u := range l.IgnoredUsers {
		out[u] = true
	}
	return out
}

// AccountDataPosition returns the account data stream's current position.
func (s *AccountDataStore) AccountDataPosition(ctx context.Context) (int64, error) {
	return s.db.position(ctx, accountDataStream)
}

// AccountDataChanges returns userID's account data changed at a position
// in (since, to]: the global events and, per room ID, the room events, each
// event once with its latest content, in stream order. With since 0 (an
// initial sync) it includes the default m.push_rules of a user who never
// changed their push rules.
func (s *AccountDataStore) AccountDataChanges(ctx context.Context, userID string, since, to int64) (global []core.AccountDataEvent, rooms map[string][]core.AccountDataEvent, err error) {
	rows, err := s.db.Cached().QueryContext(ctx, `SELECT room_id, type, content FROM account_data
		WHERE user_id = ? AND stream_id > ? AND stream_id <= ? ORDER BY stream_id`, userID, since, to)
	if err != nil {
		return nil, nil, fmt.Errorf("storage: account data of %s: %w", userID, err)
	}
	defer rows.Close()
	havePushRules := false
	for rows.Next() {
		var room, typ, content string
		if err := rows.Scan(&room, &typ, &content); err != nil {
			return nil, nil, fmt.Errorf("storage: account data of %s: %w", userID, err)
		}
		ev := core.AccountDataEvent{Type: typ, Content: json.RawMessage(content)}
		if room == "" {
			global = append(global, ev)
			havePushRules = havePushRules || typ == core.AccountDataPushRules
			continue
		}
		if rooms == nil {
			rooms = map[string][]core.AccountDataEvent{}
		}
		rooms[room] = append(rooms[room], ev)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("storage: account data of %s: %w", userID, err)
	}
	if since == 0 && !havePushRules {
		// Stored push rules would have been read unless written after to.
		c, err := getAccountData(ctx, s.db.Cached(), userID, "", core.AccountDataPushRules)
		if err != nil {
			return nil, nil, err
		}
		if c == nil {
			d, err := defaultPushRulesContent(userID)
			if err != nil {
				return nil, nil, err
			}
			global = append(global, core.AccountDataEvent{Type: core.AccountDataPushRules, Content: d})
		}
	}
	return global, rooms, nil
}
