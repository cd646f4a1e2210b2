package pdu

import (
	"slices"
	"strconv"
	"strings"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/roomversion"
)

// MarshalFor writes the event in the federation format of room version v,
// as canonical JSON: event_id only for versions 1 and 2, references as
// [event_id, {"sha256": hash}] pairs there and as strings from version 3,
// Unknown keys written back, absent optional keys left out. Content,
// Unsigned and Unknown values are re-encoded canonically in the version's
// mode, so hand-built values need not be canonical but must be valid.
func (p *PDU) MarshalFor(v *roomversion.Version) ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 1024), v, nil)
}

// field is one top-level key of the event being written.
type field struct {
	key string
	raw []byte // for Unknown keys; nil for named fields
}

// isNamed reports whether key is a top-level key the struct holds for
// version v.
func isNamed(v *roomversion.Version, key string) bool {
	switch key {
	case "room_id", "sender", "type", "state_key", "content", "redacts", "origin_server_ts",
		"depth", "auth_events", "prev_events", "hashes", "signatures", "unsigned":
		return true
	case "event_id":
		return v.EventFormat == roomversion.FormatV1
	}
	return false
}

// appendJSON appends the canonical event to dst, leaving out the top-level
// keys for which skip returns true.
func (p *PDU) appendJSON(dst []byte, v *roomversion.Version, skip func(string) bool) ([]byte, error) {
	var buf [24]field
	fields := buf[:0]
	add := func(key string, present bool) {
		if present && (skip == nil || !skip(key)) {
			fields = append(fields, field{key: key})
		}
	}
	v1 := v.EventFormat == roomversion.FormatV1
	add("auth_events", true)
	add("content", true)
	add("depth", true)
	add("event_id", v1)
	add("hashes", p.Hashes != nil)
	add("origin_server_ts", true)
	add("prev_events", true)
	add("redacts", p.Redacts != nil)
	add("room_id", p.RoomID != "")
	add("sender", true)
	add("signatures", p.Signatures != nil)
	add("state_key", p.StateKey != nil)
	add("type", true)
	add("unsigned", p.Unsigned != nil)
	if len(p.Unknown) > 0 {
		for k, raw := range p.Unknown {
			if isNamed(v, k) {
				return dst, invalid("Unknown holds %q, which is a named field in room version %s", k, v.ID)
			}
			if skip == nil || !skip(k) {
				fields = append(fields, field{key: k, raw: raw})
			}
		}
		slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
	}
	mode := Mode(v)
	n := len(dst)
	dst = append(dst, '{')
	var err error
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = canonicaljson.AppendString(dst, f.key)
		dst = append(dst, ':')
		if f.raw != nil {
			if dst, err = canonicaljson.AppendNested(dst, f.raw, mode, 1); err != nil {
				return dst[:n], invalid("%s: %v", f.key, err)
			}
			continue
		}
		if dst, err = p.appendNamed(dst, v, mode, f.key); err != nil {
			return dst[:n], err
		}
	}
	return append(dst, '}'), nil
}

func (p *PDU) appendNamed(dst []byte, v *roomversion.Version, mode canonicaljson.Mode, key string) ([]byte, error) {
	switch key {
	case "auth_events":
		return p.appendRefs(dst, v, p.AuthEvents)
	case "prev_events":
		return p.appendRefs(dst, v, p.PrevEvents)
	case "content":
		if p.Content == nil {
			return append(dst, '{', '}'), nil
		}
		return appendObject(dst, mode, key, p.Content, 1)
	case "unsigned":
		return appendObject(dst, mode, key, p.Unsigned, 1)
	case "depth":
		return appendInt(dst, mode, key, p.Depth)
	case "origin_server_ts":
		return appendInt(dst, mode, key, p.OriginServerTS)
	case "event_id":
		return canonicaljson.AppendString(dst, p.EventID), nil
	case "room_id":
		return canonicaljson.AppendString(dst, p.RoomID), nil
	case "sender":
		return canonicaljson.AppendString(dst, p.Sender), nil
	case "type":
		return canonicaljson.AppendString(dst, p.Type), nil
	case "state_key":
		return canonicaljson.AppendString(dst, *p.StateKey), nil
	case "redacts":
		return canonicaljson.AppendString(dst, *p.Redacts), nil
	case "hashes":
		return p.Hashes.appendJSON(dst, mode)
	case "signatures":
		return appendSignatures(dst, p.Signatures), nil
	}
	return dst, invalid("unknown field %q", key)
}

// appendObject appends the canonical form of the JSON object raw, the
// value of key, which sits depth levels inside the event (the event's
// whole JSON may nest canonicaljson.MaxDepth levels, as Parse accepts).
func appendObject(dst []byte, mode canonicaljson.Mode, key string, raw []byte, depth int) ([]byte, error) {
	n := len(dst)
	dst, err := canonicaljson.AppendNested(dst, raw, mode, depth)
	if err != nil {
		return dst, invalid("%s: %v", key, err)
	}
	if dst[n] != '{' {
		return dst[:n], invalid("%s is not an object", key)
	}
	return dst, nil
}

const maxSafeInt = 1<<53 - 1

func appendInt(dst []byte, mode canonicaljson.Mode, key string, n int64) ([]byte, error) {
	if mode == canonicaljson.Strict && (n > maxSafeInt || n < -maxSafeInt) {
		return dst, invalid("%s %d out of the canonical JSON integer range", key, n)
	}
	return strconv.AppendInt(dst, n, 10), nil
}

func (p *PDU) appendRefs(dst []byte, v *roomversion.Version, refs []string) ([]byte, error) {
	dst = append(dst, '[')
	for i, ref := range refs {
		if i > 0 {
			dst = append(dst, ',')
		}
		if v.EventFormat != roomversion.FormatV1 {
			dst = canonicaljson.AppendString(dst, ref)
			continue
		}
		dst = append(dst, '[')
		dst = canonicaljson.AppendString(dst, ref)
		dst = append(dst, ',')
		if obj, ok := p.Internal.RefHashObjects[ref]; ok {
			var err error
			if dst, err = appendObject(dst, Mode(v), "reference hash of "+ref, obj, 3); err != nil {
				return dst, err
			}
		} else if sha, ok := p.Internal.RefHashes[ref]; ok {
			dst = append(dst, `{"sha256":`...)
			dst = canonicaljson.AppendString(dst, sha)
			dst = append(dst, '}')
		} else {
			return dst, invalid("no reference hash for %s (room version %s needs one)", ref, v.ID)
		}
		dst = append(dst, ']')
	}
	return append(dst, ']'), nil
}

func (h *Hashes) appendJSON(dst []byte, mode canonicaljson.Mode) ([]byte, error) {
	keys := make([]string, 0, 1+len(h.Other))
	keys = append(keys, "sha256")
	for k := range h.Other {
		if k == "sha256" {
			return dst, invalid("hashes.Other holds sha256")
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = canonicaljson.AppendString(dst, k)
		dst = append(dst, ':')
		if k == "sha256" {
			dst = canonicaljson.AppendString(dst, h.SHA256)
			continue
		}
		var err error
		if dst, err = canonicaljson.AppendNested(dst, h.Other[k], mode, 2); err != nil {
			return dst, invalid("hashes.%s: %v", k, err)
		}
	}
	return append(dst, '}'), nil
}

func appendSignatures(dst []byte, sigs map[string]map[string]string) []byte {
	servers := make([]string, 0, len(sigs))
	for s := range sigs {
		servers = append(servers, s)
	}
	slices.Sort(servers)
	dst = append(dst, '{')
	for i, s := range servers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = canonicaljson.AppendString(dst, s)
		dst = append(dst, ':', '{')
		keys := make([]string, 0, len(sigs[s]))
		for k := range sigs[s] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for j, k := range keys {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = canonicaljson.AppendString(dst, k)
			dst = append(dst, ':')
			dst = canonicaljson.AppendString(dst, sigs[s][k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}
