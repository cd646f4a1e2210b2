package storage

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strconv"
	"testing"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// roundTrip strips js with f, restores it and fails unless it comes back
// byte for byte. It returns what was stored and the stripped bits.
func roundTrip(t *testing.T, js []byte, f *eventRowFields) (string, int) {
	t.Helper()
	stored, stripped := stripEventJSON(js, f)
	if f.StripAuth != (stripped&strippedAuthEvents != 0 && f.authRaw != nil) && bytes.Contains(js, []byte(`"auth_events":`)) && stripped != 0 {
		t.Fatalf("auth_events of %q: stripped %b, raw %q", js, stripped, f.authRaw)
	}
	if stripped&strippedAuthEvents != 0 {
		f.AuthEvents = string(f.authRaw) // as the persister stores it
	}
	got, err := restoreEventJSON(stored, stripped, f)
	if err != nil {
		t.Fatalf("restore(%q, %b): %v", stored, stripped, err)
	}
	if !bytes.Equal(got, js) {
		t.Fatalf("round trip of %q (stored %q, stripped %b) gave %q", js, stored, stripped, got)
	}
	if stripped == 0 && stored != string(js) {
		t.Fatalf("nothing stripped from %q but stored %q", js, stored)
	}
	if stripped != 0 && len(stored) >= len(js) {
		t.Fatalf("stripped %b from %q but stored %q is no shorter", stripped, js, stored)
	}
	return stored, stripped
}

// TestEventJSONSignedEventsEveryRoomVersion builds and signs events of every
// room version, as the server stores them (MarshalFor), and checks that
// they are stored without the row's members and come back byte for byte,
// with their hashes, signatures and event IDs intact.
func TestEventJSONSignedEventsEveryRoomVersion(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(server, keyID string, atTS int64) (ed25519.PublicKey, error) {
		return pub, nil
	}
	stateKey := "ключ 😀 @zoë:例え.テスト"
	shapes := []struct {
		name     string
		typ      string
		stateKey *string
		sender   string
		content  string
	}{
		{"message", "m.room.message", nil, "@alice:example.org", `{"body":"héllo \"wörld\" \\ \u2028 😀","msgtype":"m.text"}`},
		{"state with unicode key", "org.example.ü", &stateKey, "@alice:example.org", `{"displayname":"Zoë"}`},
		{"membership", "m.room.member", new(string), "@alice:example.org", `{"membership":"join"}`},
		{"empty state key", "m.room.topic", new(string), "@alice:example.org", `{"topic":"t"}`},
		{"unicode type", "org.例え.ü", nil, "@alice:example.org", `{}`},
	}
	for _, v := range roomversion.All() {
		for _, sh := range shapes {
			t.Run(string(v.ID)+"/"+sh.name, func(t *testing.T) {
				server := "example.org"
				p := &pdu.PDU{
					RoomID:         "!room:example.org",
					Sender:         sh.sender,
					Type:           sh.typ,
					StateKey:       sh.stateKey,
					Content:        json.RawMessage(sh.content),
					OriginServerTS: 1_796_644_228_960,
					Depth:          3957,
					AuthEvents:     []string{},
					PrevEvents:     []string{},
					Unsigned:       json.RawMessage(`{"age_ts":1}`),
				}
				if sh.typ == "m.room.member" {
					*p.StateKey = sh.sender
				}
				if v.RoomIDFromCreateEvent {
					p.RoomID = "!akSiLG1TAD8O1q5PO4ilUw5b7lR9YB_N5b1l9P5P05s"
				}
				if v.EventFormat == roomversion.FormatV1 {
					p.EventID = "$abc:" + server
					p.AuthEvents = []string{"$auth:" + server}
					p.Internal.RefHashes = map[string]string{"$auth:" + server: "aGFzaA"}
				} else {
					p.AuthEvents = []string{"$VNXT7WTZsEwjFzR9f6VFJL4H1GQRaklmbqD5N0RjeLg"}
				}
				if err := signing.SignEvent(v, p, server, "ed25519:k", priv); err != nil {
					t.Fatal(err)
				}
				js, err := p.MarshalFor(v)
				if err != nil {
					t.Fatal(err)
				}
				id, err := p.ComputeEventID(v)
				if err != nil {
					t.Fatal(err)
				}
				f := &eventRowFields{EventID: id, RoomID: p.RoomID, Type: p.Type, Sender: p.Sender,
					StateKey: p.StateKey, Depth: p.Depth, OriginServerTS: p.OriginServerTS, StripAuth: true}
				stored, stripped := roundTrip(t, js, f)
				want := strippedDepth | strippedOriginServerTS | strippedRoomID | strippedSender | strippedType | strippedAuthEvents
				if p.StateKey != nil {
					want |= strippedStateKey
				}
				if v.EventFormat == roomversion.FormatV1 {
					want |= strippedEventID
				}
				if stripped != want {
					t.Errorf("stripped %b, want %b (stored %s)", stripped, want, stored)
				}
				for _, k := range strippedKeys {
					if bytes.Contains([]byte(stored), []byte(`"`+k+`":`)) {
						t.Errorf("stored JSON still has %q: %s", k, stored)
					}
				}
				got, err := restoreEventJSON(stored, stripped, f)
				if err != nil {
					t.Fatal(err)
				}
				back, err := pdu.Parse(v, got)
				if err != nil {
					t.Fatalf("parse restored %s: %v", got, err)
				}
				if err := signing.VerifyEvent(v, back, lookup); err != nil {
					t.Errorf("signature of restored event: %v", err)
				}
				h, err := pdu.ContentHashJSON(v, got)
				if err != nil {
					t.Fatal(err)
				}
				if signing.EncodeBase64(h[:]) != back.Hashes.SHA256 {
					t.Errorf("content hash of restored event differs")
				}
				if id2, err := back.ComputeEventID(v); err != nil || id2 != id {
					t.Errorf("event ID of restored event %q, %v; want %q", id2, err, id)
				}
			})
		}
	}
}

// TestEventJSONShapes covers JSON that must be stored whole or in part.
func TestEventJSONShapes(t *testing.T) {
	sk := "k"
	row := eventRowFields{EventID: "$e", RoomID: "!r:x", Type: "m.t", Sender: "@u:x", StateKey: &sk, Depth: 7, OriginServerTS: 1000}
	full := `{"content":{},"depth":7,"event_id":"$e","origin_server_ts":1000,"room_id":"!r:x","sender":"@u:x","state_key":"k","type":"m.t"}`
	const rowAll = strippedAll &^ strippedAuthEvents
	cases := []struct {
		name, js string
		row      func(f *eventRowFields)
		stripped int
	}{
		{"all", full, nil, rowAll},
		{"no state key in row", full, func(f *eventRowFields) { f.StateKey = nil }, rowAll &^ strippedStateKey},
		{"other sender", full, func(f *eventRowFields) { f.Sender = "@v:x" }, rowAll &^ strippedSender},
		{"other depth", full, func(f *eventRowFields) { f.Depth = 8 }, rowAll &^ strippedDepth},
		{"absent members", `{"content":{},"sender":"@u:x"}`, nil, strippedSender},
		{"only stripped members", `{"sender":"@u:x","type":"m.t"}`, nil, strippedSender | strippedType},
		{"first and last", `{"depth":7,"z":1}`, nil, strippedDepth},
		{"last", `{"a":1,"type":"m.t"}`, nil, strippedType},
		{"empty object", `{}`, nil, 0},
		{"not an object", `[1]`, nil, 0},
		{"keys out of order", `{"type":"m.t","sender":"@u:x"}`, nil, 0},
		{"duplicate key", `{"sender":"@u:x","sender":"@u:x"}`, nil, 0},
		{"space after brace", `{ "sender":"@u:x"}`, nil, 0},
		{"space before colon", `{"sender" :"@u:x"}`, nil, 0},
		{"space after value", `{"sender":"@u:x" }`, nil, 0},
		{"space after comma", `{"a":1, "sender":"@u:x"}`, nil, 0},
		{"trailing space", `{"sender":"@u:x"} `, nil, 0},
		{"newline inside a value", "{\"a\":[1,\n2],\"sender\":\"@u:x\"}", nil, strippedSender},
		{"escaped key", `{"\u0073ender":"@u:x"}`, nil, 0},
		{"escaped earlier key", `{"\u0061":1,"sender":"@u:x"}`, nil, 0},
		{"escaped value", `{"sender":"@\u0075:x"}`, nil, 0},
		{"number written otherwise", `{"depth":7.0,"origin_server_ts":1e3}`, nil, 0},
		{"negative number", `{"depth":-7}`, func(f *eventRowFields) { f.Depth = -7 }, strippedDepth},
		{"string depth", `{"depth":"7"}`, nil, 0},
		{"null state key", `{"state_key":null}`, nil, 0},
		{"unicode", `{"content":{"b":"ü😀"},"sender":"@ü:例","type":"😀"}`, func(f *eventRowFields) { f.Sender, f.Type = "@ü:例", "😀" }, strippedSender | strippedType},
		{"key after type", `{"type":"m.t","unsigned":{"age":1}}`, nil, strippedType},
		{"keys sorting between", `{"depth":7,"depti":1,"event_id":"$e","origin":"x","room":1,"room_id":"!r:x","s":1,"sender":"@u:x"}`, nil,
			strippedDepth | strippedEventID | strippedRoomID | strippedSender},
		{"truncated", `{"sender":"@u:x"`, nil, 0},
		{"auth events", `{"auth_events":[["$a:x",{"sha256":"h"}]],"content":{},"depth":7}`, func(f *eventRowFields) { f.StripAuth = true },
			strippedAuthEvents | strippedDepth},
		{"only auth events", `{"auth_events":[]}`, func(f *eventRowFields) { f.StripAuth = true }, strippedAuthEvents},
		{"auth events kept", `{"auth_events":["$a"],"content":{},"depth":7}`, nil, strippedDepth},
		{"auth events of JSON stored whole", `{"depth":7, "auth_events":["$a"]}`, func(f *eventRowFields) { f.StripAuth = true }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := row
			if c.row != nil {
				c.row(&f)
			}
			_, stripped := roundTrip(t, []byte(c.js), &f)
			if stripped != c.stripped {
				t.Errorf("stripEventJSON(%q) stripped %b, want %b", c.js, stripped, c.stripped)
			}
		})
	}
}

// TestRestoreEventJSONRefusesBadRows checks that a row that cannot be
// restored is an error, not a wrong event.
func TestRestoreEventJSONRefusesBadRows(t *testing.T) {
	f := &eventRowFields{Sender: "@u:x"}
	for _, c := range []struct {
		stored   string
		stripped int
	}{
		{`{"a":1}`, strippedStateKey}, // no state key in the row
		{`{"a":1}`, 1 << 9},           // an unknown bit
		{`{"a":1`, strippedSender},    // not an object
	} {
		if got, err := restoreEventJSON(c.stored, c.stripped, f); err == nil {
			t.Errorf("restoreEventJSON(%q, %b) = %q, want an error", c.stored, c.stripped, got)
		}
	}
}

// rowFieldsFrom takes the row's values from js itself where it has them
// as plain strings and integers, so that the fuzzer exercises stripping.
func rowFieldsFrom(js []byte) *eventRowFields {
	f := &eventRowFields{}
	_ = canonicaljson.Members(js, func(key, v []byte) error {
		s := ""
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			s = string(v[1 : len(v)-1])
		}
		n, _ := strconv.ParseInt(string(v), 10, 64)
		switch string(key) {
		case "depth":
			f.Depth = n
		case "origin_server_ts":
			f.OriginServerTS = n
		case "event_id":
			f.EventID = s
		case "room_id":
			f.RoomID = s
		case "sender":
			f.Sender = s
		case "type":
			f.Type = s
		case "state_key":
			f.StateKey = &s
		}
		return nil
	})
	return f
}

// FuzzEventJSONRoundTrip: whatever the JSON and the row, what is stored
// comes back byte for byte.
func FuzzEventJSONRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{"auth_events":["$a","$b"],"content":{"body":"hi","msgtype":"m.text"},"depth":3957,"hashes":{"sha256":"x"},"origin_server_ts":1796644228960,"prev_events":["$p"],"room_id":"!r:localhost","sender":"@u:localhost","signatures":{"localhost":{"ed25519:a":"s"}},"type":"m.room.message"}`,
		`{"auth_events":[["$a:x",{"sha256":"h"}]],"content":{"membership":"join"},"depth":1,"event_id":"$e:x","origin":"x","origin_server_ts":5,"prev_events":[],"room_id":"!r:x","sender":"@u:x","state_key":"@u:x","type":"m.room.member"}`,
		`{"content":{"room_version":"12"},"depth":1,"origin_server_ts":5,"sender":"@u:x","state_key":"","type":"m.room.create"}`,
		`{"type":"m.t","sender":"@u:x"}`,
		`{ "sender" : "@u:x" }`,
		`{"s\u0065nder":"@u:x","type":"\u006d"}`,
		`{"depth":-0,"origin_server_ts":1.5e3}`,
		`{"a":{"depth":1},"depth":1}`,
		`{}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s), "!r:x", "@u:x", "m.t", "k", true, int64(1), int64(5), "$e:x")
	}
	f.Fuzz(func(t *testing.T, js []byte, roomID, sender, typ, stateKey string, hasStateKey bool, depth, ts int64, eventID string) {
		given := &eventRowFields{EventID: eventID, RoomID: roomID, Type: typ, Sender: sender, Depth: depth, OriginServerTS: ts}
		if hasStateKey {
			given.StateKey = &stateKey
		}
		roundTrip(t, js, given)
		roundTrip(t, js, rowFieldsFrom(js))
		withAuth := rowFieldsFrom(js)
		withAuth.StripAuth = true
		roundTrip(t, js, withAuth)
	})
}

// FuzzRestoreEventJSON: a row that stripEventJSON did not write (a damaged
// one) gives an error or some JSON, never a panic, and a row with nothing
// stripped comes back as it is.
func FuzzRestoreEventJSON(f *testing.F) {
	f.Add(`{"content":{}}`, strippedAll, "@u:x", true)
	f.Add(`{"type":"m.t"}`, strippedType, "", false)
	f.Add(`{`, strippedSender, "", false)
	f.Add(``, 0, "", false)
	f.Fuzz(func(t *testing.T, stored string, stripped int, s string, hasStateKey bool) {
		row := &eventRowFields{EventID: s, RoomID: s, Type: s, Sender: s, Depth: int64(len(s)), OriginServerTS: -1}
		if hasStateKey {
			row.StateKey = &s
		}
		got, err := restoreEventJSON(stored, stripped, row)
		if stripped == 0 && (err != nil || string(got) != stored) {
			t.Errorf("restoreEventJSON(%q, 0) = %q, %v; want it as it is", stored, got, err)
		}
	})
}
