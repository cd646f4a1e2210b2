package push

import (
	"bytes"
	"errors"
	"strconv"

	"hearth.dev/hearth/core/canonicaljson"
)

// Event is an event in client or federation format, read lazily: a
// property is found by scanning the raw JSON along its path, with the
// top-level members and those of content indexed on first use.
type Event struct {
	raw     []byte
	top     map[string][]byte
	content map[string][]byte
}

// errNotObject is returned for JSON that is not an object.
var errNotObject = errors.New("push: event is not a JSON object")

// NewEvent wraps the JSON of an event. It returns an error for JSON that
// is not an object; values are checked as they are read, and a malformed
// one simply matches nothing.
func NewEvent(raw []byte) (*Event, error) {
	e := &Event{raw: raw}
	top, err := members(raw)
	if err != nil {
		return nil, errNotObject
	}
	e.top = top
	return e, nil
}

// members indexes the members of a JSON object (the first of duplicate
// keys wins).
func members(obj []byte) (map[string][]byte, error) {
	m := make(map[string][]byte, 12)
	err := canonicaljson.Members(obj, func(k, v []byte) error {
		if _, dup := m[string(k)]; !dup {
			m[string(k)] = v
		}
		return nil
	})
	return m, err
}

// member finds the value of key in a JSON object by scanning it.
func member(obj []byte, key string) ([]byte, bool) {
	var found []byte
	stop := errors.New("")
	err := canonicaljson.Members(obj, func(k, v []byte) error {
		if string(k) == key {
			found = v
			return stop
		}
		return nil
	})
	return found, err == stop
}

// Lookup returns the raw JSON value at the property path (as SplitPath
// returns it), or false if some step is missing or not an object.
func (e *Event) Lookup(path []string) ([]byte, bool) {
	if len(path) == 0 {
		return nil, false
	}
	v, ok := e.top[path[0]]
	if !ok {
		return nil, false
	}
	rest := path[1:]
	if path[0] == "content" && len(rest) > 0 {
		if e.content == nil {
			c, err := members(v)
			if err != nil {
				return nil, false
			}
			e.content = c
		}
		if v, ok = e.content[rest[0]]; !ok {
			return nil, false
		}
		rest = rest[1:]
	}
	for _, name := range rest {
		if len(v) == 0 || v[0] != '{' {
			return nil, false
		}
		if v, ok = member(v, name); !ok {
			return nil, false
		}
	}
	return v, true
}

// String returns the string at path, or false if it is absent or not a
// string.
func (e *Event) String(path []string) (string, bool) {
	v, ok := e.Lookup(path)
	if !ok || len(v) == 0 || v[0] != '"' {
		return "", false
	}
	s, err := canonicaljson.Unquote(v)
	return s, err == nil
}

// scalar is a non-compound canonical JSON value: a string, an integer in
// [-(2**53)+1, (2**53)-1], a boolean or null.
type scalar struct {
	kind byte // 's', 'i', 'b', 'n'
	s    string
	i    int64
	b    bool
}

const maxSafeInt = 1<<53 - 1

// parseScalar reads raw as a scalar, or false for other values (objects,
// arrays, non-integer or out-of-range numbers, bad JSON).
func parseScalar(raw []byte) (scalar, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return scalar{}, false
	}
	switch raw[0] {
	case '"':
		s, err := canonicaljson.Unquote(raw)
		return scalar{kind: 's', s: s}, err == nil
	case 't', 'f', 'n':
		switch string(raw) {
		case "true":
			return scalar{kind: 'b', b: true}, true
		case "false":
			return scalar{kind: 'b'}, true
		case "null":
			return scalar{kind: 'n'}, true
		}
		return scalar{}, false
	}
	if bytes.ContainsAny(raw, ".eE") {
		return scalar{}, false
	}
	i, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || i > maxSafeInt || i < -maxSafeInt {
		return scalar{}, false
	}
	return scalar{kind: 'i', i: i}, true
}

// ThreadID returns the thread an event belongs to by its own relation: the
// thread root's event ID when content.m.relates_to has rel_type m.thread,
// else "main". (The spec suggests following up to 3 relations to find the
// thread of, say, a reaction to a threaded event; that needs the related
// events and is left to the caller.)
func (e *Event) ThreadID() string {
	rel, ok := e.String([]string{"content", "m.relates_to", "rel_type"})
	if !ok || rel != "m.thread" {
		return "main"
	}
	root, ok := e.String([]string{"content", "m.relates_to", "event_id"})
	if !ok || root == "" {
		return "main"
	}
	return root
}
