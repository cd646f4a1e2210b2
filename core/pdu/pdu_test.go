package pdu

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/roomversion"
)

// realEvent is one entry of testdata/real_events.json: an event taken from a
// public room, with the event ID the network knows it by.
type realEvent struct {
	Name        string                       `json:"name"`
	RoomVersion roomversion.ID               `json:"room_version"`
	EventID     string                       `json:"event_id"`
	Redacted    bool                         `json:"redacted"` // the copy was redacted: its content hash no longer matches
	Keys        map[string]map[string]string `json:"keys"`
	Event       string                       `json:"event"`
}

func loadRealEvents(t testing.TB) []realEvent {
	t.Helper()
	b, err := os.ReadFile("testdata/real_events.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Events []realEvent }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Events) < 10 {
		t.Fatalf("only %d real events", len(f.Events))
	}
	return f.Events
}

func version(t testing.TB, id roomversion.ID) *roomversion.Version {
	t.Helper()
	v, err := roomversion.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRealEvents(t *testing.T) {
	for _, re := range loadRealEvents(t) {
		t.Run(re.Name, func(t *testing.T) {
			v := version(t, re.RoomVersion)
			p, err := Parse(v, []byte(re.Event))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.EventID != re.EventID {
				t.Errorf("EventID = %q, want %q", p.EventID, re.EventID)
			}
			if got, err := p.ComputeEventID(v); err != nil || got != re.EventID {
				t.Errorf("ComputeEventID = %q, %v; want %q", got, err, re.EventID)
			}
			// The JSON-level algorithms agree with the struct ones.
			ref, err := ReferenceHashJSON(v, []byte(re.Event))
			if err != nil {
				t.Fatal(err)
			}
			if pref, err := p.ReferenceHash(v); err != nil || pref != ref {
				t.Errorf("ReferenceHash = %x, %v; JSON form gives %x", pref, err, ref)
			}
			if v.EventFormat != roomversion.FormatV1 && eventIDFromHash(v, ref) != re.EventID {
				t.Errorf("ReferenceHashJSON gives ID %q, want %q", eventIDFromHash(v, ref), re.EventID)
			}
			ch, err := ContentHashJSON(v, []byte(re.Event))
			if err != nil {
				t.Fatal(err)
			}
			if pch, err := p.ContentHash(v); err != nil || pch != ch {
				t.Errorf("ContentHash = %x, %v; JSON form gives %x", pch, err, ch)
			}
			err = p.CheckContentHash(v)
			if re.Redacted {
				if !errors.Is(err, ErrContentHashMismatch) {
					t.Errorf("CheckContentHash of a redacted copy = %v, want mismatch", err)
				}
			} else {
				if err != nil {
					t.Errorf("CheckContentHash: %v", err)
				}
				if got := base64.RawStdEncoding.EncodeToString(ch[:]); got != p.Hashes.SHA256 {
					t.Errorf("ContentHashJSON = %s, event says %s", got, p.Hashes.SHA256)
				}
			}
			// Round trip: MarshalFor writes the canonical form of the input.
			want, err := canonicaljson.Canonicalize([]byte(re.Event), Mode(v))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.MarshalFor(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("MarshalFor:\n got %s\nwant %s", got, want)
			}
			// Redaction keeps the event ID.
			r, err := p.Redact(v)
			if err != nil {
				t.Fatal(err)
			}
			if rid, err := r.ComputeEventID(v); err != nil || rid != re.EventID {
				t.Errorf("redacted event has ID %q, %v; want %q", rid, err, re.EventID)
			}
		})
	}
}

func TestRoomIDOfV12CreateEvent(t *testing.T) {
	v := version(t, "12")
	var create, member *PDU
	for _, re := range loadRealEvents(t) {
		if re.RoomVersion != "12" {
			continue
		}
		p, err := Parse(v, []byte(re.Event))
		if err != nil {
			t.Fatal(err)
		}
		switch p.Type {
		case "m.room.create":
			create = p
		case "m.room.member":
			member = p
		}
	}
	if create == nil || member == nil {
		t.Fatal("no v12 create and member events in testdata")
	}
	if create.RoomID != "" {
		t.Fatalf("v12 create event has room_id %q", create.RoomID)
	}
	got, err := create.RoomIDFor(v)
	if err != nil {
		t.Fatal(err)
	}
	// The room's other events name it by this ID.
	if got != member.RoomID || got != "!"+create.EventID[1:] {
		t.Errorf("RoomIDFor(create) = %q; member's room_id %q, create event ID %q", got, member.RoomID, create.EventID)
	}
	if r, err := member.RoomIDFor(v); err != nil || r != member.RoomID {
		t.Errorf("RoomIDFor(member) = %q, %v", r, err)
	}
	// Before version 12 a create event names its room itself.
	v11 := version(t, "11")
	old := *create
	old.RoomID = "!abc:example.org"
	if r, err := old.RoomIDFor(v11); err != nil || r != "!abc:example.org" {
		t.Errorf("v11 RoomIDFor = %q, %v", r, err)
	}
}

func TestV1References(t *testing.T) {
	v := version(t, "1")
	ev := loadRealEvents(t)
	var raw string
	for _, re := range ev {
		if re.RoomVersion == "1" && strings.Contains(re.Event, `"m.room.message"`) {
			raw = re.Event
		}
	}
	p, err := Parse(v, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	wantAuth := []string{"$159234730483190eXavq:matrix.org", "$143454825711DhCxH:matrix.org", "$156837651426789wiPdh:maunium.net"}
	if diff := cmp.Diff(wantAuth, p.AuthEvents); diff != "" {
		t.Errorf("AuthEvents (-want +got):\n%s", diff)
	}
	if got := p.Internal.RefHashes["$1673816901121325UMCjA:matrix.org"]; got != "t7e0IYHLI3ydIPoIU8a8E/pIWXH9cNLlQBEtGyGtHwc" {
		t.Errorf("RefHashes of prev event = %q", got)
	}
	// A reference without a known hash cannot be written in v1 format.
	p.PrevEvents = append(p.PrevEvents, "$new:example.org")
	if _, err := p.MarshalFor(v); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("MarshalFor with unknown reference hash = %v, want ErrInvalidEvent", err)
	}
	// An unusual hash object is written back as it was.
	odd := strings.Replace(raw, `{"sha256":"t7e0IYHLI3ydIPoIU8a8E/pIWXH9cNLlQBEtGyGtHwc"}`, `{"sha256":"t7e0","sha512":"x"}`, 1)
	q, err := Parse(v, []byte(odd))
	if err != nil {
		t.Fatal(err)
	}
	out, err := q.MarshalFor(v)
	if err != nil || !strings.Contains(string(out), `[["$1673816901121325UMCjA:matrix.org",{"sha256":"t7e0","sha512":"x"}]]`) {
		t.Errorf("MarshalFor with odd hash object = %s, %v", out, err)
	}
	// The same event referenced with two hashes is refused.
	dup := strings.Replace(raw, `"prev_events":[[`, `"prev_events":[["$159234730483190eXavq:matrix.org",{"sha256":"AAAA"}],[`, 1)
	if _, err := Parse(v, []byte(dup)); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("Parse with conflicting reference hashes = %v", err)
	}
}

const minimalV11 = `{"auth_events":[],"content":{"body":"hi"},"depth":1,"origin_server_ts":1,"prev_events":[],` +
	`"room_id":"!r:example.org","sender":"@u:example.org","type":"m.room.message"}`

func TestParseRefuses(t *testing.T) {
	v11 := version(t, "11")
	del := func(key string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(minimalV11), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, key)
		b, _ := json.Marshal(m)
		return string(b)
	}
	set := func(key, val string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(minimalV11), &m); err != nil {
			t.Fatal(err)
		}
		m[key] = json.RawMessage(val)
		b, _ := json.Marshal(m)
		return string(b)
	}
	if _, err := Parse(v11, []byte(minimalV11)); err != nil {
		t.Fatalf("minimal event refused: %v", err)
	}
	tests := []struct {
		name, version, event string
		want                 error
	}{
		{"not JSON", "11", `{`, canonicaljson.ErrInvalid},
		{"not an object", "11", `[]`, ErrInvalidEvent},
		{"float in v6+", "11", set("depth", "1.5"), canonicaljson.ErrInvalid},
		{"float in content in v6+", "11", set("content", `{"x":0.5}`), canonicaljson.ErrInvalid},
		{"big integer in v6+", "11", set("origin_server_ts", "9007199254740992"), canonicaljson.ErrInvalid},
		{"duplicate key in v6+", "11", strings.Replace(minimalV11, `{"auth_events":[]`, `{"depth":2,"auth_events":[]`, 1), canonicaljson.ErrInvalid},
		{"missing sender", "11", del("sender"), ErrInvalidEvent},
		{"missing type", "11", del("type"), ErrInvalidEvent},
		{"missing content", "11", del("content"), ErrInvalidEvent},
		{"missing depth", "11", del("depth"), ErrInvalidEvent},
		{"missing origin_server_ts", "11", del("origin_server_ts"), ErrInvalidEvent},
		{"missing auth_events", "11", del("auth_events"), ErrInvalidEvent},
		{"missing prev_events", "11", del("prev_events"), ErrInvalidEvent},
		{"missing room_id", "11", del("room_id"), ErrInvalidEvent},
		{"missing event_id in v1", "1", minimalV11, ErrInvalidEvent},
		{"v12 room ID in v11", "11", set("room_id", `"!mauT12AzsoqxV7Abvy_ApA-HNPK1LcT4GbP70_AOPyQ"`), ErrInvalidEvent},
		{"v11 room ID in v12", "12", minimalV11, ErrInvalidEvent},
		{"missing room_id on a v12 message", "12", del("room_id"), ErrInvalidEvent},
		{"bad sender", "11", set("sender", `"alice"`), ErrInvalidEvent},
		{"sender not a string", "11", set("sender", `1`), ErrInvalidEvent},
		{"content not an object", "11", set("content", `"x"`), ErrInvalidEvent},
		{"unsigned not an object", "11", set("unsigned", `[]`), ErrInvalidEvent},
		{"depth not an integer", "11", set("depth", `"1"`), ErrInvalidEvent},
		{"depth beyond int64 in v1-5", "5", set("depth", `9223372036854775808`), ErrInvalidEvent},
		{"hashes without sha256", "11", set("hashes", `{}`), ErrInvalidEvent},
		{"signature not a string", "11", set("signatures", `{"example.org":{"ed25519:1":1}}`), ErrInvalidEvent},
		{"type too long", "11", set("type", `"`+strings.Repeat("t", 256)+`"`), ErrInvalidEvent},
		{"state_key too long", "11", set("state_key", `"`+strings.Repeat("s", 256)+`"`), ErrInvalidEvent},
		{"v1 reference in v11", "11", set("prev_events", `[["$a:example.org",{"sha256":"x"}]]`), ErrInvalidEvent},
		{"v3 event ID in v4", "4", set("prev_events", `["$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk"]`), ErrInvalidEvent},
		{"v4 event ID in v3", "3", set("prev_events", `["$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"]`), ErrInvalidEvent},
		{"v1 event ID in v3", "3", set("prev_events", `["$abc:example.org"]`), ErrInvalidEvent},
		{"too large", "11", set("content", `{"body":"`+strings.Repeat("x", MaxSize)+`"}`), ErrTooLarge},
	}
	for _, tc := range tests {
		v := version(t, roomversion.ID(tc.version))
		p, err := Parse(v, []byte(tc.event))
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidEvent) && tc.want != ErrTooLarge {
			t.Errorf("%s: Parse = %v, %v; want %v", tc.name, p, err, tc.want)
		}
	}
}

func TestParseLenientBeforeV6(t *testing.T) {
	v5 := version(t, "5")
	ev := strings.Replace(minimalV11, `"content":{"body":"hi"}`, `"content":{"level":50.0,"big":12345678901234567890,"a":1,"a":2}`, 1)
	p, err := Parse(v5, []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	// Numbers are kept as the sender wrote (and hashed) them.
	if got := string(p.Content); got != `{"a":2,"big":12345678901234567890,"level":50.0}` {
		t.Errorf("Content = %s", got)
	}
	// The floaty power levels example of the room version 1 to 5 pages.
	pl := strings.Replace(minimalV11, `"content":{"body":"hi"}`, `"state_key":"","content":{"ban":50,"users":{"@alice:localhost":50,"@bob:localhost":50.57,"@c:localhost":5.114698E4}}`, 1)
	pl = strings.Replace(pl, `"m.room.message"`, `"m.room.power_levels"`, 1)
	if _, err := Parse(v5, []byte(pl)); err != nil {
		t.Errorf("v5 power levels with floats refused: %v", err)
	}
	if _, err := Parse(version(t, "6"), []byte(pl)); !errors.Is(err, canonicaljson.ErrInvalid) {
		t.Errorf("v6 power levels with floats = %v, want ErrInvalid", err)
	}
}

func TestSizeLimit(t *testing.T) {
	v := version(t, "11")
	base, err := Parse(v, []byte(minimalV11))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := base.MarshalFor(v)
	// Pad the body so the event is exactly MaxSize bytes, then one more.
	pad := MaxSize - len(full) + len("hi")
	for _, tc := range []struct {
		n    int
		want error
	}{{pad, nil}, {pad + 1, ErrTooLarge}} {
		ev := strings.Replace(minimalV11, `"hi"`, `"`+strings.Repeat("x", tc.n)+`"`, 1)
		p, err := Parse(v, []byte(ev))
		if !errors.Is(err, tc.want) {
			t.Errorf("Parse of %d-byte body: %v, want %v", tc.n, err, tc.want)
		}
		if err == nil {
			if err := p.CheckSize(v); err != nil {
				t.Errorf("CheckSize at the limit: %v", err)
			}
			p.Content = json.RawMessage(`{"body":"` + strings.Repeat("x", tc.n+1) + `"}`)
			if err := p.CheckSize(v); !errors.Is(err, ErrTooLarge) {
				t.Errorf("CheckSize over the limit = %v", err)
			}
		}
	}
}

func TestUnknownKeysKept(t *testing.T) {
	v := version(t, "10")
	ev := strings.Replace(minimalV11, `"depth":1`, `"depth":1,"origin":"example.org","zz":{"b":1,"a":[true]},"event_id":"$bogus:x"`, 1)
	p, err := Parse(v, []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{"origin": json.RawMessage(`"example.org"`), "zz": json.RawMessage(`{"a":[true],"b":1}`), "event_id": json.RawMessage(`"$bogus:x"`)}
	if diff := cmp.Diff(want, p.Unknown); diff != "" {
		t.Errorf("Unknown (-want +got):\n%s", diff)
	}
	if strings.HasPrefix(p.EventID, "$bogus") {
		t.Errorf("v3+ event ID taken from the event_id key")
	}
	out, _ := p.MarshalFor(v)
	if !strings.Contains(string(out), `"event_id":"$bogus:x"`) || !strings.Contains(string(out), `"zz":{"a":[true],"b":1}`) {
		t.Errorf("unknown keys not written back: %s", out)
	}
	// A named key smuggled into Unknown is refused rather than written twice.
	p.Unknown["sender"] = json.RawMessage(`"@x:y"`)
	if _, err := p.MarshalFor(v); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("MarshalFor with Unknown[sender] = %v", err)
	}
}

func TestMarshalForBuiltEvent(t *testing.T) {
	v := version(t, "12")
	sk := ""
	p := &PDU{
		Sender:         "@alice:example.org",
		Type:           "m.room.create",
		StateKey:       &sk,
		Content:        json.RawMessage(` { "room_version" : "12" } `),
		OriginServerTS: 1000,
		Depth:          1,
	}
	out, err := p.MarshalFor(v)
	want := `{"auth_events":[],"content":{"room_version":"12"},"depth":1,"origin_server_ts":1000,"prev_events":[],"sender":"@alice:example.org","state_key":"","type":"m.room.create"}`
	if err != nil || string(out) != want {
		t.Errorf("MarshalFor = %s, %v\nwant %s", out, err, want)
	}
	p.Depth = 1 << 60
	if _, err := p.MarshalFor(v); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("MarshalFor with depth 2^60 in v12 = %v", err)
	}
	p.Depth = 1
	p.Content = json.RawMessage(`{"x":1.5}`)
	if _, err := p.MarshalFor(v); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("MarshalFor with float content in v12 = %v", err)
	}
	p.Content = json.RawMessage(`[]`)
	if _, err := p.MarshalFor(v); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("MarshalFor with array content = %v", err)
	}
}
