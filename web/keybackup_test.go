package web

import (
	"encoding/json"
	"testing"
)

const backupAlg = "m.megolm_backup.v1.curve25519-aes-sha2"

func keyData(first, fwd int, verified bool, tag string) map[string]any {
	return map[string]any{
		"first_message_index": first,
		"forwarded_count":     fwd,
		"is_verified":         verified,
		"session_data":        map[string]string{"ciphertext": tag},
	}
}

func TestKeyBackupVersionLifecycle(t *testing.T) {
	e := newE2EEServer(t)
	alice := e.user(t, "alice", "ADEV", "")
	bob := e.user(t, "bob", "BDEV", "")

	code, b := e.call(t, alice, "GET", "/room_keys/version", nil)
	if code != 404 || errcodeOf(b) != "M_NOT_FOUND" {
		t.Fatalf("GET /room_keys/version with no backup = %d %s, want 404 M_NOT_FOUND", code, b)
	}
	specSchemas.checkResponse(t, "key_backup.yaml", "GET", "/room_keys/version", 404, b)

	for _, tt := range []struct {
		name, body, want string
	}{
		{"no algorithm", `{"auth_data":{}}`, "M_MISSING_PARAM"},
		{"no auth_data", `{"algorithm":"` + backupAlg + `"}`, "M_MISSING_PARAM"},
		{"auth_data not an object", `{"algorithm":"` + backupAlg + `","auth_data":"x"}`, "M_BAD_JSON"},
		{"algorithm not a string", `{"algorithm":1,"auth_data":{}}`, "M_BAD_JSON"},
	} {
		if code, b := e.call(t, alice, "POST", "/room_keys/version", tt.body); code != 400 || errcodeOf(b) != tt.want {
			t.Errorf("%s: POST /room_keys/version = %d %s, want 400 %s", tt.name, code, b, tt.want)
		}
	}

	auth := map[string]any{"public_key": "abcdefg", "signatures": map[string]any{}}
	var created struct {
		Version string `json:"version"`
	}
	b = e.mustCall(t, alice, "POST", "/room_keys/version", map[string]any{"algorithm": backupAlg, "auth_data": auth}, 200, &created)
	specSchemas.checkResponse(t, "key_backup.yaml", "POST", "/room_keys/version", 200, b)

	var info struct {
		Version, Algorithm, ETag string
		Count                    int
		AuthData                 map[string]any `json:"auth_data"`
	}
	b = e.mustCall(t, alice, "GET", "/room_keys/version", nil, 200, &info)
	specSchemas.checkResponse(t, "key_backup.yaml", "GET", "/room_keys/version", 200, b)
	if info.Version != created.Version || info.Algorithm != backupAlg || info.AuthData["public_key"] != "abcdefg" {
		t.Errorf("current backup = %s, want version %s", b, created.Version)
	}
	b = e.mustCall(t, alice, "GET", "/room_keys/version/"+created.Version, nil, 200, nil)
	specSchemas.checkResponse(t, "key_backup.yaml", "GET", "/room_keys/version/{version}", 200, b)
	// Backups are per user.
	if code, b := e.call(t, bob, "GET", "/room_keys/version/"+created.Version, nil); code != 404 {
		t.Errorf("Bob reading Alice's backup = %d %s, want 404", code, b)
	}
	code, b = e.call(t, alice, "GET", "/room_keys/version/77", nil)
	if code != 404 || errcodeOf(b) != "M_NOT_FOUND" {
		t.Errorf("GET an unknown version = %d %s, want 404 M_NOT_FOUND", code, b)
	}
	specSchemas.checkResponse(t, "key_backup.yaml", "GET", "/room_keys/version/{version}", 404, b)

	path := "/room_keys/version/" + created.Version
	for _, tt := range []struct {
		name string
		body map[string]any
		code int
		want string
	}{
		{"other version in body", map[string]any{"algorithm": backupAlg, "auth_data": auth, "version": "99"}, 400, "M_INVALID_PARAM"},
		{"other algorithm", map[string]any{"algorithm": "org.example.other", "auth_data": auth}, 400, "M_INVALID_PARAM"},
	} {
		code, b := e.call(t, alice, "PUT", path, tt.body)
		if code != tt.code || errcodeOf(b) != tt.want {
			t.Errorf("%s: PUT %s = %d %s, want %d %s", tt.name, path, code, b, tt.code, tt.want)
		}
		specSchemas.checkResponse(t, "key_backup.yaml", "PUT", "/room_keys/version/{version}", code, b)
	}
	code, b = e.call(t, alice, "PUT", "/room_keys/version/77", map[string]any{"algorithm": backupAlg, "auth_data": auth})
	if code != 404 || errcodeOf(b) != "M_NOT_FOUND" {
		t.Errorf("PUT an unknown version = %d %s, want 404", code, b)
	}
	newAuth := map[string]any{"public_key": "hijk"}
	b = e.mustCall(t, alice, "PUT", path, map[string]any{"algorithm": backupAlg, "auth_data": newAuth, "version": created.Version}, 200, nil)
	specSchemas.checkResponse(t, "key_backup.yaml", "PUT", "/room_keys/version/{version}", 200, b)
	e.mustCall(t, alice, "GET", path, nil, 200, &info)
	if info.AuthData["public_key"] != "hijk" {
		t.Errorf("auth_data after PUT = %v", info.AuthData)
	}

	b = e.mustCall(t, alice, "DELETE", path, nil, 200, nil)
	specSchemas.checkResponse(t, "key_backup.yaml", "DELETE", "/room_keys/version/{version}", 200, b)
	e.mustCall(t, alice, "DELETE", path, nil, 200, nil) // deleted before: still a success
	code, b = e.call(t, alice, "DELETE", "/room_keys/version/77", nil)
	if code != 404 || errcodeOf(b) != "M_NOT_FOUND" {
		t.Errorf("DELETE a version that never was = %d %s, want 404", code, b)
	}
	specSchemas.checkResponse(t, "key_backup.yaml", "DELETE", "/room_keys/version/{version}", 404, b)
	if code, _ := e.call(t, alice, "GET", "/room_keys/version", nil); code != 404 {
		t.Errorf("GET /room_keys/version after deleting the only backup = %d, want 404", code)
	}
}

func TestRoomKeys(t *testing.T) {
	e := newE2EEServer(t)
	alice := e.user(t, "alice", "ADEV", "")
	var v1, v2 struct {
		Version string `json:"version"`
	}
	create := map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{"public_key": "k"}}
	e.mustCall(t, alice, "POST", "/room_keys/version", create, 200, &v1)
	e.mustCall(t, alice, "POST", "/room_keys/version", create, 200, &v2)

	type update struct {
		ETag  string `json:"etag"`
		Count int    `json:"count"`
	}
	// The three forms of PUT.
	var u update
	b := e.mustCall(t, alice, "PUT", "/room_keys/keys?version="+v2.Version, map[string]any{"rooms": map[string]any{
		"!r1:example.org": map[string]any{"sessions": map[string]any{"s1": keyData(5, 0, false, "a"), "s2": keyData(0, 0, false, "b")}},
	}}, 200, &u)
	specSchemas.checkResponse(t, "key_backup.yaml", "PUT", "/room_keys/keys", 200, b)
	if u.Count != 2 {
		t.Errorf("count after the first PUT = %d, want 2", u.Count)
	}
	etag1 := u.ETag
	b = e.mustCall(t, alice, "PUT", "/room_keys/keys/!r2:example.org?version="+v2.Version,
		map[string]any{"sessions": map[string]any{"s3": keyData(0, 0, true, "c")}}, 200, &u)
	specSchemas.checkResponse(t, "key_backup.yaml", "PUT", "/room_keys/keys/{roomId}", 200, b)
	if u.Count != 3 || u.ETag == etag1 {
		t.Errorf("after the room PUT: %s, want count 3 and a new etag (was %s)", b, etag1)
	}
	// A worse key for s1 (higher first_message_index) changes nothing; a
	// better one replaces it.
	etag2 := u.ETag
	b = e.mustCall(t, alice, "PUT", "/room_keys/keys/!r1:example.org/s1?version="+v2.Version, keyData(9, 0, false, "worse"), 200, &u)
	specSchemas.checkResponse(t, "key_backup.yaml", "PUT", "/room_keys/keys/{roomId}/{sessionId}", 200, b)
	if u.ETag != etag2 || u.Count != 3 {
		t.Errorf("a worse key: %s, want etag %s and count 3 unchanged", b, etag2)
	}
	e.mustCall(t, alice, "PUT", "/room_keys/keys/!r1:example.org/s1?version="+v2.Version, keyData(1, 0, false, "better"), 200, &u)
	var one struct {
		FirstMessageIndex int               `json:"first_message_index"`
		SessionData       map[string]string `json:"session_data"`
	}
	b = e.mustCall(t, alice, "GET", "/room_keys/keys/!r1:example.org/s1?version="+v2.Version, nil, 200, &one)
	specSchemas.checkResponse(t, "key_backup.yaml", "GET", "/room_keys/keys/{roomId}/{sessionId}", 200, b)
	if one.FirstMessageIndex != 1 || one.SessionData["ciphertext"] != "better" {
		t.Errorf("s1 = %s, want the better key", b)
	}

	// The backup's info counts the keys.
	var info struct {
		Count int    `json:"count"`
		ETag  string `json:"etag"`
	}
	e.mustCall(t, alice, "GET", "/room_keys/version/"+v2.Version, nil, 200, &info)
	if info.Count != 3 || info.ETag != u.ETag {
		t.Errorf("backup info count %d etag %s, want 3 and %s", info.Count, info.ETag, u.ETag)
	}

	// GET forms.
	var all struct {
		Rooms map[string]struct {
			Sessions map[string]json.RawMessage `json:"sessions"`
		} `json:"rooms"`
	}
	b = e.mustCall(t, alice, "GET", "/room_keys/keys?version="+v2.Version, nil, 200, &all)
	specSchemas.checkResponse(t, "key_backup.yaml", "GET", "/room_keys/keys", 200, b)
	if len(all.Rooms) != 2 || len(all.Rooms["!r1:example.org"].Sessions) != 2 || len(all.Rooms["!r2:example.org"].Sessions) != 1 {
		t.Errorf("GET /room_keys/keys = %s", b)
	}
	b = e.mustCall(t, alice, "GET", "/room_keys/keys/!none:example.org?version="+v2.Version, nil, 200, nil)
	specSchemas.checkResponse(t, "key_backup.yaml", "GET", "/room_keys/keys/{roomId}", 200, b)
	if string(b) != `{"sessions":{}}` {
		t.Errorf("GET a room without keys = %s, want {\"sessions\":{}}", b)
	}
	code, b := e.call(t, alice, "GET", "/room_keys/keys/!r1:example.org/nope?version="+v2.Version, nil)
	if code != 404 || errcodeOf(b) != "M_NOT_FOUND" {
		t.Errorf("GET a missing session = %d %s, want 404 M_NOT_FOUND", code, b)
	}
	specSchemas.checkResponse(t, "key_backup.yaml", "GET", "/room_keys/keys/{roomId}/{sessionId}", 404, b)

	// Errors.
	tests := []struct {
		name, method, path string
		body               any
		code               int
		want               string
		extra              string // current_version expected
	}{
		{"old version", "PUT", "/room_keys/keys/!r1:example.org/s1?version=" + v1.Version, keyData(0, 0, false, "x"), 403, "M_WRONG_ROOM_KEYS_VERSION", v2.Version},
		{"unknown version", "PUT", "/room_keys/keys?version=99", map[string]any{"rooms": map[string]any{}}, 403, "M_WRONG_ROOM_KEYS_VERSION", v2.Version},
		{"no version", "PUT", "/room_keys/keys", map[string]any{"rooms": map[string]any{}}, 400, "M_MISSING_PARAM", ""},
		{"missing field", "PUT", "/room_keys/keys/!r/s?version=" + v2.Version, map[string]any{"first_message_index": 1}, 400, "M_BAD_JSON", ""},
		{"session_data not an object", "PUT", "/room_keys/keys/!r/s?version=" + v2.Version, `{"first_message_index":1,"forwarded_count":0,"is_verified":false,"session_data":"x"}`, 400, "M_BAD_JSON", ""},
		{"no rooms", "PUT", "/room_keys/keys?version=" + v2.Version, map[string]any{}, 400, "M_BAD_JSON", ""},
		{"not JSON", "PUT", "/room_keys/keys?version=" + v2.Version, "{", 400, "M_NOT_JSON", ""},
		{"GET unknown version", "GET", "/room_keys/keys?version=99", nil, 404, "M_NOT_FOUND", ""},
		{"GET no version", "GET", "/room_keys/keys/!r1:example.org", nil, 400, "M_MISSING_PARAM", ""},
		{"DELETE unknown version", "DELETE", "/room_keys/keys?version=99", nil, 404, "M_NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.call(t, alice, tt.method, tt.path, tt.body)
			var got struct {
				ErrCode        string `json:"errcode"`
				CurrentVersion string `json:"current_version"`
			}
			json.Unmarshal(b, &got)
			if code != tt.code || got.ErrCode != tt.want || got.CurrentVersion != tt.extra {
				t.Errorf("%s %s = %d %s, want %d %s (current_version %q)", tt.method, tt.path, code, b, tt.code, tt.want, tt.extra)
			}
		})
	}
	code, b = e.call(t, alice, "PUT", "/room_keys/keys?version="+v1.Version, map[string]any{"rooms": map[string]any{}})
	specSchemas.checkResponse(t, "key_backup.yaml", "PUT", "/room_keys/keys", code, b)

	// DELETE forms.
	b = e.mustCall(t, alice, "DELETE", "/room_keys/keys/!r1:example.org/s1?version="+v2.Version, nil, 200, &u)
	specSchemas.checkResponse(t, "key_backup.yaml", "DELETE", "/room_keys/keys/{roomId}/{sessionId}", 200, b)
	if u.Count != 2 {
		t.Errorf("count after deleting a session = %d, want 2", u.Count)
	}
	b = e.mustCall(t, alice, "DELETE", "/room_keys/keys/!r1:example.org?version="+v2.Version, nil, 200, &u)
	specSchemas.checkResponse(t, "key_backup.yaml", "DELETE", "/room_keys/keys/{roomId}", 200, b)
	if u.Count != 1 {
		t.Errorf("count after deleting a room = %d, want 1", u.Count)
	}
	b = e.mustCall(t, alice, "DELETE", "/room_keys/keys?version="+v2.Version, nil, 200, &u)
	specSchemas.checkResponse(t, "key_backup.yaml", "DELETE", "/room_keys/keys", 200, b)
	if u.Count != 0 {
		t.Errorf("count after deleting all = %d, want 0", u.Count)
	}
}
