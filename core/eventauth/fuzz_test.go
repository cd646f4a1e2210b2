package eventauth_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// FuzzAuthorize feeds arbitrary content, types and keys through every rule
// in every room version: the result must be nil or an *AuthError, never a
// panic or another error.
func FuzzAuthorize(f *testing.F) {
	f.Add(uint8(10), "m.room.member", bob, bob, []byte(`{"membership":"join"}`), true)
	f.Add(uint8(1), "m.room.power_levels", mod, "", []byte(`{"users":{"@bob:b.org":"5"},"ban":1.5}`), true)
	f.Add(uint8(12), "m.room.create", alice, "", []byte(`{"additional_creators":[1]}`), true)
	f.Add(uint8(8), "m.room.member", alice, carol, []byte(`{"membership":"invite","third_party_invite":{"signed":{"mxid":"@carol:c.net","token":"tok","signatures":{"x":{"ed25519:0":"AA"}}}}}`), true)
	f.Add(uint8(3), "m.room.aliases", bob, "b.org", []byte(`{}`), false)
	f.Add(uint8(10), "m.room.power_levels", mod, "", []byte(`{"events":[],"notifications":{"room":"1"},"users":5}`), true)
	f.Fuzz(func(t *testing.T, vnum uint8, typ, sender, stateKey string, content []byte, isState bool) {
		vid := strconv.Itoa(int(vnum%12) + 1)
		r := newRoom(t, vid)
		tpSetup(r)
		if !json.Valid(content) {
			content = []byte(`{}`)
		}
		ev := &pdu.PDU{EventID: "$fuzz:a.com", RoomID: r.id, Type: typ, Sender: sender, Content: content, PrevEvents: []string{r.last}}
		if isState {
			ev.StateKey = &stateKey
		}
		ev.AuthEvents, _ = eventauth.SelectAuthEvents(r.v, ev, r.state.Lookup)
		for _, check := range []func() error{
			func() error { return eventauth.Authorize(r.v, ev, r.state.Lookup, testOptions) },
			func() error { return eventauth.AuthorizeByAuthEvents(r.v, ev, r.fetch, testOptions) },
		} {
			err := check()
			var ae *eventauth.AuthError
			if err != nil && !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *AuthError", err)
			}
			if ae != nil && (ae.Rule == "" || ae.Err == nil) {
				t.Fatalf("AuthError without rule or sentinel: %#v", ae)
			}
		}
	})
}
