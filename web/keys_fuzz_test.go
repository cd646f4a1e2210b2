package web

import (
	"encoding/json"
	"testing"
)

// e2eeFuzzRoutes are the end-to-end encryption endpoints that read a body.
var e2eeFuzzRoutes = []struct{ method, path string }{
	{"POST", "/keys/upload"},
	{"POST", "/keys/query"},
	{"POST", "/keys/claim"},
	{"POST", "/keys/device_signing/upload"},
	{"POST", "/keys/signatures/upload"},
	{"PUT", "/sendToDevice/m.test/fuzz"},
	{"POST", "/room_keys/version"},
	{"PUT", "/room_keys/version/1"},
	{"PUT", "/room_keys/keys?version=1"},
	{"PUT", "/room_keys/keys/!r:example.org?version=1"},
	{"PUT", "/room_keys/keys/!r:example.org/s?version=1"},
}

// FuzzE2EEBodies sends arbitrary bodies to the key, to-device and key
// backup endpoints: bad input must get a 4xx Matrix error (or a success),
// never a panic or a 500.
func FuzzE2EEBodies(f *testing.F) {
	seeds := []string{
		`{"device_keys":{"user_id":"@alice:example.org","device_id":"ADEV","algorithms":[],"keys":{"ed25519:ADEV":"k"},"signatures":{}},"one_time_keys":{"signed_curve25519:A":{"key":"k","signatures":{}}},"fallback_keys":{"signed_curve25519:B":"k"}}`,
		`{"device_keys":{"@alice:example.org":[],"@bob:remote.example":["X"]}}`,
		`{"one_time_keys":{"@alice:example.org":{"ADEV":"signed_curve25519"}}}`,
		`{"master_key":{"user_id":"@alice:example.org","usage":["master"],"keys":{"ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}}`,
		`{"@alice:example.org":{"ADEV":{"user_id":"@alice:example.org","signatures":{"@alice:example.org":{"ed25519:x":"sig"}}}}}`,
		`{"messages":{"@alice:example.org":{"*":{"a":1}}}}`,
		`{"algorithm":"m.megolm_backup.v1.curve25519-aes-sha2","auth_data":{"public_key":"k"}}`,
		`{"rooms":{"!r:example.org":{"sessions":{"s":{"first_message_index":0,"forwarded_count":0,"is_verified":true,"session_data":{}}}}}}`,
		`{"sessions":{"s":{"first_message_index":1e300,"forwarded_count":-1,"is_verified":false,"session_data":{}}}}`,
		`{"first_message_index":0,"forwarded_count":0,"is_verified":false,"session_data":null}`,
		`null`, `[]`, `"x"`, `{"device_keys":null}`,
	}
	for i := range e2eeFuzzRoutes {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	e := newE2EEServer(f)
	alice := e.user(f, "alice", "ADEV", "")
	e.call(f, alice, "POST", "/room_keys/version", map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{}})
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := e2eeFuzzRoutes[int(route)%len(e2eeFuzzRoutes)]
		code, b := e.call(t, alice, r.method, r.path, string(body))
		if code >= 500 {
			t.Fatalf("%s %s %q = %d %s", r.method, r.path, body, code, b)
		}
		if !json.Valid(b) {
			t.Fatalf("%s %s %q: the answer is not JSON: %s", r.method, r.path, body, b)
		}
	})
}
