package eventauth

import (
	"hearth.dev/hearth/core/canonicaljson"
)

// object is a JSON object's members by key, the last of duplicate keys
// winning (as encoding/json decodes them). Values are raw JSON.
type object map[string][]byte

// readObject reads the members of a JSON object; ok is false, and the
// object empty, if raw is not a well-formed object.
func readObject(raw []byte) (o object, ok bool) {
	o = object{}
	err := canonicaljson.Members(raw, func(key, value []byte) error {
		o[string(key)] = value
		return nil
	})
	if err != nil {
		return object{}, false
	}
	return o, true
}

// field returns one member of a JSON object, nil if absent or if raw is not
// a well-formed object.
func field(raw []byte, key string) []byte {
	var v []byte
	err := canonicaljson.Members(raw, func(k, value []byte) error {
		if string(k) == key {
			v = value
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return v
}

// str reads a JSON string value.
func str(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	s, err := canonicaljson.Unquote(raw)
	return s, err == nil
}

// contentString reads a string property of a JSON object, "" if it is
// absent or not a string.
func contentString(content []byte, key string) string {
	s, _ := str(field(content, key))
	return s
}
