package room

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/lru"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// aliasMap is a DirectoryStore holding aliases in a map; planning a room
// only resolves aliases.
type aliasMap map[string]string

func (m aliasMap) ResolveAlias(ctx context.Context, alias string) (string, string, error) {
	if r, ok := m[alias]; ok {
		return r, "", nil
	}
	return "", "", core.ErrNotFound
}
func (m aliasMap) CreateAlias(context.Context, string, string, string) error   { return nil }
func (m aliasMap) DeleteAlias(context.Context, string) error                   { return nil }
func (m aliasMap) Aliases(context.Context, string) ([]string, error)           { return nil, nil }
func (m aliasMap) SetPublished(context.Context, string, bool) error            { return nil }
func (m aliasMap) PublishedRooms(context.Context) ([]string, error)            { return nil, nil }
func (m aliasMap) Forget(context.Context, string, string, string) error        { return nil }
func (m aliasMap) ForgottenAt(context.Context, string, string) (string, error) { return "", nil }
func (m aliasMap) SetNetworkPublished(context.Context, string, string, string, bool) error {
	return nil
}
func (m aliasMap) NetworkPublishedRooms(context.Context, string, string) ([]string, error) {
	return nil, nil
}

// FuzzCreateRoom plans and builds rooms from arbitrary createRoom bodies:
// never a panic, and every event built parses back in its room version
// with the same ID.
func FuzzCreateRoom(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"preset":"trusted_private_chat","room_version":"12","invite":["@bob:hearth.test"],"is_direct":true}`,
		`{"room_version":"1","name":"n","topic":"t","room_alias_name":"a"}`,
		`{"room_version":"10","initial_state":[{"type":"m.room.power_levels","content":{"users":{"@alice:hearth.test":"100"}}}]}`,
		`{"power_level_content_override":{"events":{"m.room.name":1e400}},"creation_content":{"m.federate":false}}`,
		`{"initial_state":[{"type":"m.room.member","state_key":"@alice:hearth.test","content":{"membership":"leave"}}],"invite":["@c:hearth.test"]}`,
		`{"room_version":"11","creation_content":{"additional_creators":[1]},"preset":"public_chat","visibility":"public"}`,
	} {
		f.Add(seed)
	}
	key, err := signing.GenerateKey("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	p := &Pipeline{
		cfg:      Config{ServerName: "hearth.test", Key: key, DefaultRoomVersion: roomversion.Default},
		stores:   Stores{Directory: aliasMap{"#taken:hearth.test": "!x:hearth.test"}},
		versions: lru.Cache[string, *roomversion.Version]{Max: 1 << 20},
		tips:     lru.Cache[string, *tip]{Max: 1 << 20},
	}
	p.cache.setMax(1 << 16)
	p.cfg.Now = nowForTests
	f.Fuzz(func(t *testing.T, body string) {
		var req CreateRequest
		if json.Unmarshal([]byte(body), &req) != nil {
			return
		}
		req.Creator = "@alice:hearth.test"
		plan, err := p.planRoom(context.Background(), req)
		if err != nil {
			return
		}
		roomID, events, built, _, err := p.buildRoom(plan)
		if err != nil {
			return
		}
		for i, ne := range events {
			back, err := pdu.Parse(plan.v, ne.JSON)
			if err != nil {
				t.Fatalf("event %d does not parse back: %v\n%s", i, err, ne.JSON)
			}
			if plan.v.EventFormat != roomversion.FormatV1 && back.EventID != built[i].EventID {
				t.Fatalf("event %d parses back as %s, built as %s", i, back.EventID, built[i].EventID)
			}
			if ne.RoomID != roomID {
				t.Fatalf("event %d in room %q, not %q", i, ne.RoomID, roomID)
			}
		}
	})
}

func nowForTests() time.Time { return time.UnixMilli(1_700_000_000_000) }

// FuzzBuildEvent builds an arbitrary event into a new room: never a panic;
// what builds parses back with the same ID.
func FuzzBuildEvent(f *testing.F) {
	f.Add("m.room.message", false, "", `{"body":"hi"}`, "12")
	f.Add("m.room.member", true, "@bob:hearth.test", `{"membership":"invite"}`, "10")
	f.Add("m.room.power_levels", true, "", `{"users":{"@alice:hearth.test":"x"}}`, "5")
	f.Add("m.room.redaction", false, "", `{"redacts":"$x"}`, "11")
	f.Add("x", true, "@alice:hearth.test", `{"n":1.5}`, "3")
	key, err := signing.GenerateKey("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	p := &Pipeline{
		cfg: Config{ServerName: "hearth.test", Key: key, DefaultRoomVersion: roomversion.Default, Now: nowForTests},
	}
	p.cache.setMax(1 << 16)
	f.Fuzz(func(t *testing.T, typ string, isState bool, stateKey, content, version string) {
		plan, err := p.planRoom(context.Background(), CreateRequest{Creator: "@alice:hearth.test", RoomVersion: version})
		if err != nil {
			return
		}
		roomID, _, built, _, err := p.buildRoom(plan)
		if err != nil {
			t.Fatalf("a default room does not build: %v", err)
		}
		state := eventauth.NewStateMap(built...)
		pr := Proto{Type: typ, Sender: "@alice:hearth.test", Content: json.RawMessage(content)}
		if isState {
			pr.StateKey = &stateKey
		}
		if checkProto(plan.v, &pr) != nil {
			return
		}
		ev, js, err := p.build(plan.v, roomID, pr, built[len(built)-1:], state.Lookup)
		if err != nil {
			return
		}
		back, err := pdu.Parse(plan.v, js)
		if err != nil {
			t.Fatalf("built event does not parse back: %v\n%s", err, js)
		}
		if plan.v.EventFormat != roomversion.FormatV1 && back.EventID != ev.EventID {
			t.Fatalf("parses back as %s, built as %s", back.EventID, ev.EventID)
		}
	})
}
