package pdu

import (
	"fmt"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/roomversion"
)

// RedactJSON applies the redaction algorithm of room version v to the event
// JSON and returns the redacted event as canonical JSON. It checks only
// that the input is a JSON object valid in the version's mode; the event
// format is not checked.
func RedactJSON(v *roomversion.Version, event []byte) ([]byte, error) {
	c, err := canonicaljson.Canonicalize(event, Mode(v))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return redactCanonical(make([]byte, 0, len(c)), v, c)
}

// Redact returns a copy of the event redacted by the algorithm of room
// version v. The copy keeps EventID and Internal; unsigned is dropped.
func (p *PDU) Redact(v *roomversion.Version) (*PDU, error) {
	b, err := p.MarshalFor(v)
	if err != nil {
		return nil, err
	}
	r, err := redactCanonical(make([]byte, 0, len(b)), v, b)
	if err != nil {
		return nil, err
	}
	q, err := parseCanonical(v, r)
	if err != nil {
		return nil, err
	}
	q.EventID = p.EventID
	q.Internal = p.Internal
	q.Internal.RefHashes = cloneMap(p.Internal.RefHashes)
	q.Internal.RefHashObjects = cloneMap(p.Internal.RefHashObjects)
	return q, nil
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// topLevelKept lists the top-level keys redaction keeps in every room
// version; keptBeforeV11 those it keeps only before the version 11 rules.
var (
	topLevelKept  = []string{"event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth", "prev_events", "auth_events", "origin_server_ts"}
	keptBeforeV11 = []string{"prev_state", "origin", "membership"}
)

// keepTopLevel returns the key's name if redaction in room version v keeps
// the top-level key.
func keepTopLevel(v *roomversion.Version, key []byte) (string, bool) {
	for _, k := range topLevelKept {
		if string(key) == k {
			return k, true
		}
	}
	if !v.UpdatedRedactionRules {
		for _, k := range keptBeforeV11 {
			if string(key) == k {
				return k, true
			}
		}
	}
	return "", false
}

// keepContent reports whether redaction in room version v keeps the key in
// the content of an event of type typ.
func keepContent(v *roomversion.Version, typ string, key []byte) bool {
	switch typ {
	case "m.room.member":
		switch string(key) {
		case "membership":
			return true
		case "join_authorised_via_users_server":
			return v.RestrictedJoinAuthorisedViaUsersServer
		}
	case "m.room.create":
		return v.UpdatedRedactionRules || string(key) == "creator"
	case "m.room.join_rules":
		switch string(key) {
		case "join_rule":
			return true
		case "allow":
			return v.RedactionKeepsAllow
		}
	case "m.room.power_levels":
		switch string(key) {
		case "ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default":
			return true
		case "invite":
			return v.UpdatedRedactionRules
		}
	case "m.room.aliases":
		return v.RedactionKeepsAliases && string(key) == "aliases"
	case "m.room.history_visibility":
		return string(key) == "history_visibility"
	case "m.room.redaction":
		return v.UpdatedRedactionRules && string(key) == "redacts"
	}
	return false
}

type member struct {
	key string
	val []byte
}

// redactCanonical appends the redacted form of canonical event c to dst.
// Keeping a subset of members in their order keeps the output canonical.
func redactCanonical(dst []byte, v *roomversion.Version, c []byte) ([]byte, error) {
	var buf [16]member
	kept := buf[:0]
	typ := ""
	err := canonicaljson.Members(c, func(k, val []byte) error {
		name, ok := keepTopLevel(v, k)
		if !ok {
			return nil
		}
		if name == "type" && val[0] == '"' {
			typ, _ = canonicaljson.Unquote(val)
		}
		kept = append(kept, member{key: name, val: val})
		return nil
	})
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	dst = append(dst, '{')
	for i, m := range kept {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = canonicaljson.AppendString(dst, m.key)
		dst = append(dst, ':')
		if m.key != "content" || m.val[0] != '{' {
			dst = append(dst, m.val...)
			continue
		}
		if dst, err = redactContent(dst, v, typ, m.val); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// redactContent appends the redacted form of the canonical content object
// of an event of type typ.
func redactContent(dst []byte, v *roomversion.Version, typ string, content []byte) ([]byte, error) {
	if typ == "m.room.create" && v.UpdatedRedactionRules {
		return append(dst, content...), nil // v11: all keys are kept
	}
	dst = append(dst, '{')
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	err := canonicaljson.Members(content, func(k, val []byte) error {
		if keepContent(v, typ, k) {
			sep()
			dst = canonicaljson.AppendString(dst, string(k))
			dst = append(dst, ':')
			dst = append(dst, val...)
			return nil
		}
		// v11: m.room.member keeps the signed key of third_party_invite.
		// When third_party_invite is an object without signed, an empty
		// object is kept: the text does not say, and this is what deployed
		// servers hash, so event IDs agree.
		if v.UpdatedRedactionRules && typ == "m.room.member" && string(k) == "third_party_invite" && val[0] == '{' {
			sep()
			dst = append(dst, `"third_party_invite":{`...)
			err := canonicaljson.Members(val, func(k2, val2 []byte) error {
				if string(k2) == "signed" {
					dst = append(dst, `"signed":`...)
					dst = append(dst, val2...)
				}
				return nil
			})
			dst = append(dst, '}')
			return err
		}
		return nil
	})
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return append(dst, '}'), nil
}
