package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"hearth.dev/hearth/core/canonicaljson"
)

// An event's JSON repeats what its events row holds: its room, sender,
// type, state key, timestamp and depth (and, in room versions 1 and 2, its
// ID). event_json keeps the JSON without the members whose value is, byte
// for byte, what the row gives back, and event_json.stripped says which
// (delta 2/75); readers put them back where they were. The JSON that comes
// back is the JSON that was stored, byte for byte, so its hashes and
// signatures verify and what /event, /sync and federation serve is
// unchanged. Rows stored before (stripped = 0) are read as they are.
//
// Members are only taken out of a compact object whose keys are in
// strictly increasing byte order and written without escapes (canonical
// JSON, as every event this server builds or accepts in room version 6
// and later): where such a member goes back is then known from its key
// alone. Any other JSON is stored whole.

// The bits of event_json.stripped, in the order of their keys.
const (
	strippedDepth          = 1 << iota // "depth": events.topological_ordering
	strippedEventID                    // "event_id": events.event_id
	strippedOriginServerTS             // "origin_server_ts": events.origin_server_ts
	strippedRoomID                     // "room_id": rooms.room_id
	strippedSender                     // "sender": events.sender
	strippedStateKey                   // "state_key": events.state_key
	strippedType                       // "type": events.type
	// "auth_events": event_auth_sets.auth_events of event_json.auth_set
	// (delta 2/78). The events of a room name the same few auth events
	// one after the other: each list is stored once.
	strippedAuthEvents
	strippedAll = 1<<iota - 1
)

// strippedKeys are the keys of the bits above.
var strippedKeys = [...]string{"depth", "event_id", "origin_server_ts", "room_id", "sender", "state_key", "type", "auth_events"}

// restoreOrder lists the bits' indexes in the byte order of their keys.
var restoreOrder = [...]int{7, 0, 1, 2, 3, 4, 5, 6}

// eventRowFields are the values of an event's row that its JSON may repeat.
type eventRowFields struct {
	EventID, RoomID, Type, Sender string
	StateKey                      *string
	Depth, OriginServerTS         int64
	// AuthEvents is the raw JSON of the event's auth set, for restoring.
	AuthEvents string
	// StripAuth lets stripEventJSON take auth_events out, whatever its
	// value, which it leaves in authRaw (a part of the JSON given) for
	// the caller to store as an auth set.
	StripAuth bool
	authRaw   []byte
}

// matches reports whether raw, a member's value, is what appendValue
// writes for bit i.
func (f *eventRowFields) matches(i int, raw []byte) bool {
	switch i {
	case 0, 2:
		var buf [24]byte
		return string(strconv.AppendInt(buf[:0], f.int(i), 10)) == string(raw)
	case 5:
		return f.StateKey != nil && quotedIs(raw, *f.StateKey)
	default:
		return quotedIs(raw, f.str(i))
	}
}

// quotedIs reports whether raw is s between quotes.
func quotedIs(raw []byte, s string) bool {
	return len(raw) == len(s)+2 && raw[0] == '"' && raw[len(raw)-1] == '"' && string(raw[1:len(raw)-1]) == s
}

func (f *eventRowFields) int(i int) int64 {
	if i == 0 {
		return f.Depth
	}
	return f.OriginServerTS
}

func (f *eventRowFields) str(i int) string {
	switch i {
	case 1:
		return f.EventID
	case 3:
		return f.RoomID
	case 4:
		return f.Sender
	case 5:
		return *f.StateKey
	case 7:
		return f.AuthEvents
	default:
		return f.Type
	}
}

// appendValue appends the value of bit i's member.
func (f *eventRowFields) appendValue(dst []byte, i int) []byte {
	if i == 0 || i == 2 {
		return strconv.AppendInt(dst, f.int(i), 10)
	}
	if i == 7 {
		return append(dst, f.AuthEvents...)
	}
	dst = append(dst, '"')
	dst = append(dst, f.str(i)...)
	return append(dst, '"')
}

// errNotCompact stops stripEventJSON's walk of JSON it stores whole.
var errNotCompact = errors.New("storage: not compact canonical JSON")

// stripEventJSON returns js without the members that f gives back, and
// the event_json.stripped bits that say which. It returns js whole (and 0)
// when it is not compact JSON with keys in increasing order or repeats
// nothing of f.
func stripEventJSON(js []byte, f *eventRowFields) (string, int) {
	if len(js) < 2 || js[0] != '{' || js[len(js)-1] != '}' {
		return string(js), 0
	}
	var out strings.Builder
	out.Grow(len(js))
	out.WriteByte('{')
	stripped := 0
	next := 1 // where the next member must start, in a compact object
	var prev []byte
	var end int
	err := canonicaljson.Members(js, func(key, v []byte) error {
		vs := cap(js) - cap(v) // v is a sub-slice of js
		ks := vs - len(key) - 3
		// The raw key is never shorter than the decoded one, and space
		// only adds: ks == next holds only for `"key":value` right after
		// the previous member, with a key written without escapes.
		if ks != next || js[ks] != '"' {
			return errNotCompact
		}
		raw := js[ks+1 : vs-2]
		if prev != nil && string(prev) >= string(raw) {
			return errNotCompact
		}
		prev = raw
		end = vs + len(v)
		next = end + 1
		for i, k := range strippedKeys {
			if k != string(raw) || stripped&(1<<i) != 0 {
				continue
			}
			if i == 7 && f.StripAuth {
				f.authRaw = v
			} else if i == 7 || !f.matches(i, v) {
				continue
			}
			stripped |= 1 << i
			return nil
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		out.Write(js[ks:end])
		return nil
	})
	// prev is nil for "{}"; otherwise the last member must end the object.
	if err != nil || stripped == 0 || prev != nil && end != len(js)-1 {
		f.authRaw = nil
		return string(js), 0
	}
	out.WriteByte('}')
	return out.String(), stripped
}

// restoreEventJSON returns the event JSON that stripEventJSON turned into
// stored and stripped, f being the same row's values.
func restoreEventJSON(stored string, stripped int, f *eventRowFields) ([]byte, error) {
	if stripped == 0 {
		return []byte(stored), nil
	}
	if stripped&^strippedAll != 0 || stripped&strippedStateKey != 0 && f.StateKey == nil ||
		stripped&strippedAuthEvents != 0 && f.AuthEvents == "" {
		return nil, errors.New("storage: event JSON stripped of members its row does not hold")
	}
	size := len(stored)
	for b := stripped; b != 0; b &= b - 1 {
		i := bits.TrailingZeros(uint(b))
		size += len(strippedKeys[i]) + 4 // quotes, colon and comma
		if i == 0 || i == 2 {
			size += 20 // the longest int64
		} else {
			size += len(f.str(i)) + 2
		}
	}
	// Members only reads: the stored text is walked where it lies, not
	// copied first (the reads of /sync and /messages restore every event).
	in := unsafe.Slice(unsafe.StringData(stored), len(stored))
	out := make([]byte, 1, size)
	out[0] = '{'
	// The stripped members go back in their keys' order: next is the
	// first of restoreOrder not put back yet.
	next := 0
	pending := func() int {
		for ; next < len(restoreOrder); next++ {
			if i := restoreOrder[next]; stripped&(1<<i) != 0 {
				return i
			}
		}
		return -1
	}
	put := func(i int) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, strippedKeys[i]...)
		out = append(out, '"', ':')
		out = f.appendValue(out, i)
	}
	err := canonicaljson.Members(in, func(key, v []byte) error {
		for i := pending(); i >= 0 && strippedKeys[i] <= string(key); i = pending() {
			put(i)
			next++
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, key...)
		out = append(out, '"', ':')
		out = append(out, v...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := pending(); i >= 0; i = pending() {
		put(i)
		next++
	}
	return append(out, '}'), nil
}

// eventJSONColumns select, from events e, rooms r and event_json j, what
// storedEventJSON scans to give an event's JSON back.
const eventJSONColumns = "e.event_id, r.room_id, e.type, e.state_key, e.sender, e.topological_ordering, e.origin_server_ts, j.json, j.stripped, aset.auth_events"

// eventJSONJoin joins an event's auth set (aset) to event_json j.
const eventJSONJoin = " LEFT JOIN event_auth_sets aset ON aset.id = j.auth_set"

// storedEventJSON is an event's stored JSON and the row values that
// restore it.
type storedEventJSON struct {
	f        eventRowFields
	stateKey sql.NullString
	js       string
	stripped int
	auth     sql.NullString
}

// dest returns the scan destinations of eventJSONColumns.
func (s *storedEventJSON) dest() []any {
	return []any{&s.f.EventID, &s.f.RoomID, &s.f.Type, &s.stateKey, &s.f.Sender,
		&s.f.Depth, &s.f.OriginServerTS, &s.js, &s.stripped, &s.auth}
}

// json returns the event's JSON as it was given to be stored.
func (s *storedEventJSON) json() ([]byte, error) {
	s.f.StateKey = nil
	if s.stateKey.Valid {
		s.f.StateKey = &s.stateKey.String
	}
	s.f.AuthEvents = s.auth.String
	js, err := restoreEventJSON(s.js, s.stripped, &s.f)
	if err != nil {
		return nil, fmt.Errorf("storage: event %s: %w", s.f.EventID, err)
	}
	return js, nil
}

const (
	sqlAuthSetFind   = "SELECT id FROM event_auth_sets WHERE auth_events = ?"
	sqlAuthSetInsert = "INSERT INTO event_auth_sets (auth_events) VALUES (?) RETURNING id"
)

// maxAuthSetCache bounds the auth sets the event store remembers.
const maxAuthSetCache = 1024

// authSetCache remembers the IDs of auth sets stored by committed writes
// (sets are never deleted), so that a send whose auth events are those of
// the event before it costs no statement for them.
type authSetCache struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *authSetCache) get(raw []byte) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[string(raw)]
	return id, ok
}

// remember adds sets found or stored by a write that committed.
func (c *authSetCache) remember(sets map[string]int64) {
	if len(sets) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(sets) > maxAuthSetCache {
		c.m = make(map[string]int64, len(sets))
	}
	maps.Copy(c.m, sets)
}

// authSet returns the ID of the auth set raw (an auth_events value),
// storing it if it is new.
func (p *persister) authSet(raw []byte) (int64, error) {
	if id, ok := p.authSets.get(raw); ok {
		return id, nil
	}
	if id, ok := p.newSets[string(raw)]; ok {
		return id, nil
	}
	text := string(raw)
	var id int64
	err := p.q.QueryRowContext(p.ctx, sqlAuthSetFind, text).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = p.q.QueryRowContext(p.ctx, sqlAuthSetInsert, text).Scan(&id)
	}
	if err != nil {
		return 0, fmt.Errorf("storage: auth set: %w", err)
	}
	if p.newSets == nil {
		p.newSets = map[string]int64{}
	}
	p.newSets[text] = id
	return id, nil
}
