package web

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// publishedKey fetches the server's key from /_matrix/key/v2/server.
func (e *roomEnv) publishedKey() (string, ed25519.PublicKey) {
	e.tb.Helper()
	var keys struct {
		ServerName string `json:"server_name"`
		VerifyKeys map[string]struct {
			Key string `json:"key"`
		} `json:"verify_keys"`
	}
	e.must("GET", "/_matrix/key/v2/server", "", nil, &keys)
	if keys.ServerName != roomTestServer || len(keys.VerifyKeys) != 1 {
		e.tb.Fatalf("key server: %+v", keys)
	}
	for id, k := range keys.VerifyKeys {
		b, err := base64.RawStdEncoding.DecodeString(k.Key)
		if err != nil || len(b) != ed25519.PublicKeySize {
			e.tb.Fatalf("verify key %s = %q", id, k.Key)
		}
		return id, ed25519.PublicKey(b)
	}
	panic("unreachable")
}

// canonicalWithout returns the canonical JSON of the object js without the
// given top-level keys.
func canonicalWithout(tb testing.TB, js []byte, drop ...string) []byte {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil {
		tb.Fatal(err)
	}
	for _, k := range drop {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := canonicaljson.Canonicalize(b, canonicaljson.Strict)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// fedEvent is the part of a federation PDU the tests check.
type fedEvent struct {
	RoomID     string                       `json:"room_id"`
	Type       string                       `json:"type"`
	StateKey   *string                      `json:"state_key"`
	Depth      int64                        `json:"depth"`
	PrevEvents []string                     `json:"prev_events"`
	AuthEvents []string                     `json:"auth_events"`
	Hashes     map[string]string            `json:"hashes"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// verifyPDU recomputes, from the PDU JSON alone, the event's content hash,
// reference hash (its event ID, and the room ID of a v12 create event) and
// checks its signature with the published key.
func verifyPDU(tb testing.TB, v *roomversion.Version, eventID, roomID string, js []byte, keyID string, pub ed25519.PublicKey) fedEvent {
	tb.Helper()
	var ev fedEvent
	if err := json.Unmarshal(js, &ev); err != nil {
		tb.Fatal(err)
	}
	// Content hash: SHA-256 of the canonical event without unsigned,
	// signatures and hashes.
	h := sha256.Sum256(canonicalWithout(tb, js, "unsigned", "signatures", "hashes"))
	if got, want := ev.Hashes["sha256"], base64.RawStdEncoding.EncodeToString(h[:]); got != want {
		tb.Errorf("%s: hashes.sha256 = %q, recomputed %q", eventID, got, want)
	}
	// Reference hash and signature: over the redacted event.
	redacted, err := pdu.RedactJSON(v, js)
	if err != nil {
		tb.Fatal(err)
	}
	ref := sha256.Sum256(canonicalWithout(tb, redacted, "signatures", "unsigned"))
	enc := base64.RawURLEncoding
	if v.EventIDs == roomversion.EventIDBase64 {
		enc = base64.RawStdEncoding
	}
	if got, want := eventID, "$"+enc.EncodeToString(ref[:]); got != want {
		tb.Errorf("event ID %s, recomputed %s", got, want)
	}
	if ev.Type == "m.room.create" && v.RoomIDFromCreateEvent {
		if ev.RoomID != "" {
			tb.Errorf("v%s create event has room_id %q", v.ID, ev.RoomID)
		}
		if want := "!" + base64.RawURLEncoding.EncodeToString(ref[:]); roomID != want {
			tb.Errorf("room ID %s, recomputed from the create event %s", roomID, want)
		}
	} else if ev.RoomID != roomID {
		tb.Errorf("%s: room_id %q, want %q", eventID, ev.RoomID, roomID)
	}
	sig, err := base64.RawStdEncoding.DecodeString(ev.Signatures[roomTestServer][keyID])
	if err != nil {
		tb.Fatalf("%s: signature %q: %v", eventID, ev.Signatures[roomTestServer][keyID], err)
	}
	if !ed25519.Verify(pub, canonicalWithout(tb, redacted, "signatures", "unsigned"), sig) {
		tb.Errorf("%s: the signature does not verify with the published key", eventID)
	}
	return ev
}

// checkRoomEvents verifies every event named by the room's state, and that
// they form one chain: each event's prev_events is the previous one, depth
// counting up from 1.
func (e *roomEnv) checkRoomEvents(adminToken, roomID string, state map[string]clientEvent) {
	e.tb.Helper()
	keyID, pub := e.publishedKey()
	type node struct {
		id string
		ev fedEvent
	}
	var chain []node
	for _, ce := range state {
		av := e.admin(adminToken, ce.EventID)
		v, err := roomversion.Lookup(roomversion.ID(av.RoomVersion))
		if err != nil {
			e.tb.Fatal(err)
		}
		if av.Outlier || av.Rejected != nil || av.StateGroup == 0 {
			e.tb.Errorf("%s: outlier %v, rejected %v, state group %d", ce.EventID, av.Outlier, av.Rejected, av.StateGroup)
		}
		ev := verifyPDU(e.tb, v, ce.EventID, roomID, av.PDU, keyID, pub)
		if ev.Depth != av.Depth {
			e.tb.Errorf("%s: admin depth %d, PDU depth %d", ce.EventID, av.Depth, ev.Depth)
		}
		chain = append(chain, node{ce.EventID, ev})
	}
	slices.SortFunc(chain, func(a, b node) int { return int(a.ev.Depth - b.ev.Depth) })
	for i, n := range chain {
		if n.ev.Depth != int64(i+1) {
			e.tb.Errorf("event %d (%s %s) has depth %d", i, n.ev.Type, n.id, n.ev.Depth)
		}
		var want []string
		if i > 0 {
			want = []string{chain[i-1].id}
		}
		if len(n.ev.PrevEvents) != len(want) || len(want) == 1 && n.ev.PrevEvents[0] != want[0] {
			e.tb.Errorf("event %d (%s) has prev_events %v, want %v", i, n.ev.Type, n.ev.PrevEvents, want)
		}
	}
}

func TestCreateRoomPresets(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", true)
	bob := env.user("bob", false)
	aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer
	for _, version := range []string{"10", "11", "12"} {
		for _, preset := range []string{"private_chat", "trusted_private_chat", "public_chat"} {
			t.Run("v"+version+"/"+preset, func(t *testing.T) {
				env.tb = t
				alias := strings.ReplaceAll(fmt.Sprintf("room_%s_%s", version, preset), "_", "-")
				roomID := env.createRoom(alice, map[string]any{
					"room_version":     version,
					"preset":           preset,
					"name":             "The room",
					"topic":            "About things",
					"room_alias_name":  alias,
					"invite":           []string{bobID},
					"is_direct":        true,
					"creation_content": map[string]any{"m.federate": true},
					"initial_state": []map[string]any{
						{"type": "m.room.avatar", "content": map[string]string{"url": "mxc://hearth.test/a"}},
					},
				})
				v12 := version == "12"
				if _, hasServer := strings.CutPrefix(roomID, "!"); !hasServer || strings.Contains(roomID, ":") == v12 {
					t.Errorf("room ID %q has the wrong form for v%s", roomID, version)
				}
				st := env.state(alice, roomID)
				content := func(key string) map[string]any {
					ev, ok := st[key]
					if !ok {
						t.Fatalf("no %s in the state", key)
					}
					return ev.Content
				}

				create := content("m.room.create|")
				if create["room_version"] != version || create["m.federate"] != true {
					t.Errorf("create content %v", create)
				}
				if _, has := create["creator"]; has != (version == "10") {
					t.Errorf("v%s create content %v: creator present = %v", version, create, has)
				}
				if v12 && preset == "trusted_private_chat" {
					if diff := cmp.Diff([]any{bobID}, create["additional_creators"]); diff != "" {
						t.Errorf("additional_creators (-want +got):\n%s", diff)
					}
				} else if _, has := create["additional_creators"]; has {
					t.Errorf("create content %v has additional_creators", create)
				}
				if got := content("m.room.member|" + aliceID)["membership"]; got != "join" {
					t.Errorf("creator membership %v", got)
				}
				inv := content("m.room.member|" + bobID)
				if inv["membership"] != "invite" || inv["is_direct"] != true {
					t.Errorf("invite content %v", inv)
				}
				pl := content("m.room.power_levels|")
				users := map[string]any{}
				if !v12 {
					users[aliceID] = float64(100)
					if preset == "trusted_private_chat" {
						users[bobID] = float64(100)
					}
				}
				if diff := cmp.Diff(users, pl["users"]); diff != "" {
					t.Errorf("power levels users (-want +got):\n%s", diff)
				}
				tomb := pl["events"].(map[string]any)["m.room.tombstone"].(float64)
				if v12 && tomb <= pl["state_default"].(float64) {
					t.Errorf("v12 tombstone level %v is not above state_default %v", tomb, pl["state_default"])
				}
				want := map[string]string{"join_rule": "invite", "history_visibility": "shared", "guest_access": "can_join"}
				if preset == "public_chat" {
					want["join_rule"], want["guest_access"] = "public", "forbidden"
				}
				got := map[string]string{
					"join_rule":          content("m.room.join_rules|")["join_rule"].(string),
					"history_visibility": content("m.room.history_visibility|")["history_visibility"].(string),
					"guest_access":       content("m.room.guest_access|")["guest_access"].(string),
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("preset state (-want +got):\n%s", diff)
				}
				if content("m.room.name|")["name"] != "The room" || content("m.room.topic|")["topic"] != "About things" {
					t.Errorf("name %v, topic %v", content("m.room.name|"), content("m.room.topic|"))
				}
				if content("m.room.avatar|")["url"] != "mxc://hearth.test/a" {
					t.Errorf("initial_state avatar %v", content("m.room.avatar|"))
				}
				fullAlias := "#" + alias + ":" + roomTestServer
				if content("m.room.canonical_alias|")["alias"] != fullAlias {
					t.Errorf("canonical alias %v", content("m.room.canonical_alias|"))
				}
				var resolved struct {
					RoomID string `json:"room_id"`
				}
				env.must("GET", cs+"/directory/room/"+fullAlias, "", nil, &resolved)
				if resolved.RoomID != roomID {
					t.Errorf("alias resolves to %q, want %q", resolved.RoomID, roomID)
				}
				if len(st) != 11 {
					t.Errorf("the room has %d state events, want 11", len(st))
				}
				env.checkRoomEvents(alice, roomID, st)

				// The invitee can join; then both are members.
				env.must("POST", cs+"/join/"+roomID, bob, map[string]any{}, nil)
				var joined struct {
					Joined map[string]any `json:"joined"`
				}
				env.must("GET", cs+"/rooms/"+roomID+"/joined_members", bob, nil, &joined)
				if len(joined.Joined) != 2 {
					t.Errorf("joined members %v", joined.Joined)
				}
			})
		}
	}
}

func TestCreateRoomAllVersions(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", true)
	keyID, pub := env.publishedKey()
	for _, v := range roomversion.All() {
		t.Run("v"+string(v.ID), func(t *testing.T) {
			env.tb = t
			roomID := env.createRoom(alice, map[string]any{"room_version": string(v.ID), "name": "n"})
			st := env.state(alice, roomID)
			if got := st["m.room.create|"].Content["room_version"]; got != string(v.ID) {
				t.Fatalf("room_version %v", got)
			}
			msg := env.send(alice, roomID, "t1", "hello")
			var ev clientEvent
			env.must("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(msg), alice, nil, &ev)
			if ev.Content["body"] != "hello" {
				t.Errorf("message content %v", ev.Content)
			}
			if v.EventFormat != roomversion.FormatV1 {
				env.checkRoomEvents(alice, roomID, st)
				av := env.admin(alice, msg)
				verifyPDU(t, v, msg, roomID, av.PDU, keyID, pub)
				return
			}
			// Room versions 1 and 2: the server chose the event ID, and
			// references carry reference hashes.
			av := env.admin(alice, msg)
			var fe struct {
				EventID    string  `json:"event_id"`
				PrevEvents [][]any `json:"prev_events"`
			}
			if err := json.Unmarshal(av.PDU, &fe); err != nil {
				t.Fatal(err)
			}
			if fe.EventID != msg || !strings.HasSuffix(msg, ":"+roomTestServer) {
				t.Errorf("v%s event_id %q, sent as %q", v.ID, fe.EventID, msg)
			}
			if len(fe.PrevEvents) != 1 || len(fe.PrevEvents[0]) != 2 {
				t.Errorf("v%s prev_events %v", v.ID, fe.PrevEvents)
			}
		})
	}
}

func TestCreateRoomErrors(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	env.createRoom(alice, map[string]any{"room_alias_name": "taken"})
	tests := []struct {
		name    string
		body    any
		status  int
		errcode string
	}{
		{"unknown version", map[string]any{"room_version": "999"}, 400, "M_UNSUPPORTED_ROOM_VERSION"},
		{"unknown preset", map[string]any{"preset": "party"}, 400, "M_INVALID_PARAM"},
		{"bad visibility", map[string]any{"visibility": "secret"}, 400, "M_INVALID_PARAM"},
		{"alias taken", map[string]any{"room_alias_name": "taken"}, 400, "M_ROOM_IN_USE"},
		{"not JSON", "{", 400, "M_NOT_JSON"},
		{"wrong type", map[string]any{"invite": "bob"}, 400, "M_BAD_JSON"},
		{"bad invitee", map[string]any{"invite": []string{"bob"}}, 400, "M_INVALID_PARAM"},
		{"remote invitee", map[string]any{"invite": []string{"@bob:elsewhere.test"}}, 403, "M_FORBIDDEN"},
		{"float in v12 content", map[string]any{"creation_content": map[string]any{"x": 1.5}}, 400, "M_BAD_JSON"},
		// The creator's own power no longer lets them set the name.
		{"power override too low", map[string]any{"room_version": "10", "name": "x",
			"power_level_content_override": map[string]any{"users": map[string]int{"@alice:" + roomTestServer: 10}}},
			400, "M_INVALID_ROOM_STATE"},
		// Room version 12 creators cannot be listed in users.
		{"v12 creator in users", map[string]any{"room_version": "12",
			"power_level_content_override": map[string]any{"users": map[string]int{"@alice:" + roomTestServer: 100}}},
			400, "M_INVALID_ROOM_STATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.tb = t
			r := env.wantError("POST", cs+"/createRoom", alice, tt.body, tt.status, tt.errcode)
			if tt.errcode == "M_INVALID_ROOM_STATE" && !strings.Contains(string(r.Body), "auth rule") {
				t.Errorf("M_INVALID_ROOM_STATE without the rule: %s", r.Body)
			}
		})
	}
	env.tb = t
	env.wantError("POST", cs+"/createRoom", "", map[string]any{}, http.StatusUnauthorized, "M_MISSING_TOKEN")
	// Nothing of the refused rooms is left behind.
	var joined struct {
		JoinedRooms []string `json:"joined_rooms"`
	}
	env.must("GET", cs+"/joined_rooms", alice, nil, &joined)
	if len(joined.JoinedRooms) != 1 {
		t.Errorf("joined rooms after refused creations: %v", joined.JoinedRooms)
	}
}

func TestCreateRoomOverrides(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	roomID := env.createRoom(alice, map[string]any{
		"room_version": "11",
		"preset":       "public_chat",
		"name":         "from name",
		"initial_state": []map[string]any{
			{"type": "m.room.history_visibility", "content": map[string]string{"history_visibility": "joined"}},
			{"type": "m.room.name", "content": map[string]string{"name": "from initial_state"}},
			{"type": "m.room.power_levels", "content": map[string]any{"users": map[string]int{"@alice:" + roomTestServer: 100}, "ban": 70}},
		},
		"power_level_content_override": map[string]any{"kick": 60},
	})
	st := env.state(alice, roomID)
	if got := st["m.room.history_visibility|"].Content["history_visibility"]; got != "joined" {
		t.Errorf("initial_state should override the preset: history_visibility %v", got)
	}
	if got := st["m.room.name|"].Content["name"]; got != "from name" {
		t.Errorf("name should override initial_state: %v", got)
	}
	pl := st["m.room.power_levels|"].Content
	if pl["ban"] != float64(70) || pl["kick"] != float64(60) {
		t.Errorf("power levels %v: want initial_state's ban 70 and the override's kick 60", pl)
	}
	if got := st["m.room.join_rules|"].Content["join_rule"]; got != "public" {
		t.Errorf("join_rule %v", got)
	}
}
