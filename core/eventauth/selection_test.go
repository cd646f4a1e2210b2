package eventauth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

func TestAuthEventsNeeded(t *testing.T) {
	k := func(typ, sk string) eventauth.StateKey { return eventauth.StateKey{Type: typ, StateKey: sk} }
	create, pl, jr := k(eventauth.TypeCreate, ""), k(eventauth.TypePowerLevels, ""), k(eventauth.TypeJoinRules, "")
	mem := func(u string) eventauth.StateKey { return k(eventauth.TypeMember, u) }
	tests := []struct {
		name  string
		vid   string
		event func(t testing.TB) *pdu.PDU
		want  []eventauth.StateKey
	}{
		{"create", "10", func(t testing.TB) *pdu.PDU { return newEvent(t, eventauth.TypeCreate, alice, "", `{}`) }, nil},
		{"message", "10", func(t testing.TB) *pdu.PDU { return newMessage(t, typeMessage, bob, `{}`) },
			[]eventauth.StateKey{create, pl, mem(bob)}},
		{"message v12 has no create", "12", func(t testing.TB) *pdu.PDU { return newMessage(t, typeMessage, bob, `{}`) },
			[]eventauth.StateKey{pl, mem(bob)}},
		{"own join", "10", func(t testing.TB) *pdu.PDU {
			return newEvent(t, eventauth.TypeMember, bob, bob, `{"membership":"join"}`)
		}, []eventauth.StateKey{create, pl, mem(bob), jr}},
		{"invite", "10", func(t testing.TB) *pdu.PDU {
			return newEvent(t, eventauth.TypeMember, bob, carol, `{"membership":"invite"}`)
		}, []eventauth.StateKey{create, pl, mem(bob), mem(carol), jr}},
		{"knock", "10", func(t testing.TB) *pdu.PDU {
			return newEvent(t, eventauth.TypeMember, carol, carol, `{"membership":"knock"}`)
		}, []eventauth.StateKey{create, pl, mem(carol), jr}},
		{"kick has no join rules", "10", func(t testing.TB) *pdu.PDU {
			return newEvent(t, eventauth.TypeMember, mod, bob, `{"membership":"leave"}`)
		}, []eventauth.StateKey{create, pl, mem(mod), mem(bob)}},
		{"third-party invite", "10", func(t testing.TB) *pdu.PDU {
			return newEvent(t, eventauth.TypeMember, alice, carol, `{"membership":"invite","third_party_invite":{"signed":{"mxid":"@carol:c.net","token":"tok"}}}`)
		}, []eventauth.StateKey{create, pl, mem(alice), mem(carol), jr, k(eventauth.TypeThirdPartyInvite, "tok")}},
		{"restricted join", "10", func(t testing.TB) *pdu.PDU {
			return newEvent(t, eventauth.TypeMember, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, mod))
		}, []eventauth.StateKey{create, pl, mem(carol), jr, mem(mod)}},
		{"restricted join before v8 names no authoriser", "7", func(t testing.TB) *pdu.PDU {
			return newEvent(t, eventauth.TypeMember, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, mod))
		}, []eventauth.StateKey{create, pl, mem(carol), jr}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := eventauth.AuthEventsNeeded(mustVersion(t, tc.vid), tc.event(t))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AuthEventsNeeded() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectAuthEvents(t *testing.T) {
	for _, vid := range []string{"1", "10", "12"} {
		t.Run("v"+vid, func(t *testing.T) {
			r := newRoom(t, vid)
			ev := newEvent(t, eventauth.TypeMember, ivan, ivan, `{"membership":"join"}`)
			got, err := eventauth.SelectAuthEvents(r.v, ev, r.state.Lookup)
			if err != nil {
				t.Fatal(err)
			}
			id := func(typ, sk string) string {
				return r.state[eventauth.StateKey{Type: typ, StateKey: sk}].EventID
			}
			want := []string{id(eventauth.TypePowerLevels, ""), id(eventauth.TypeMember, ivan), id(eventauth.TypeJoinRules, "")}
			if !r.v.RoomIDFromCreateEvent {
				want = append([]string{r.create.EventID}, want...)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SelectAuthEvents() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckAuthEvents(t *testing.T) {
	type auths = func(r *testRoom) []*pdu.PDU
	get := func(r *testRoom, typ, sk string) *pdu.PDU {
		return r.state[eventauth.StateKey{Type: typ, StateKey: sk}]
	}
	std := func(r *testRoom) []*pdu.PDU {
		out := []*pdu.PDU{get(r, eventauth.TypePowerLevels, ""), get(r, eventauth.TypeMember, bob)}
		if !r.v.RoomIDFromCreateEvent {
			out = append([]*pdu.PDU{r.create}, out...)
		}
		return out
	}
	tests := []struct {
		name string
		auth auths
		want map[string]string
	}{
		{"selected events", std, at("1-12", "")},
		{"2.1 duplicate key", func(r *testRoom) []*pdu.PDU {
			dup := *get(r, eventauth.TypeMember, bob)
			dup.EventID = "$dup:b.org"
			return append(std(r), &dup)
		}, at("1-11", "2.1", "12", "3.1")},
		{"2.2 key not selected", func(r *testRoom) []*pdu.PDU {
			return append(std(r), get(r, eventauth.TypeJoinRules, ""))
		}, at("1-11", "2.2", "12", "3.2")},
		{"2.2 non-state event", func(r *testRoom) []*pdu.PDU {
			return append(std(r), r.message(typeMessage, bob, `{}`))
		}, at("1-11", "2.2", "12", "3.2")},
		{"2.2 create event selected in v12", func(r *testRoom) []*pdu.PDU {
			if r.v.RoomIDFromCreateEvent {
				return append(std(r), r.create)
			}
			return std(r)
		}, at("1-11", "", "12", "3.2")},
		{"2.3 rejected auth event", func(r *testRoom) []*pdu.PDU {
			a := std(r)
			pl := *a[len(a)-2]
			pl.Internal.Rejected = "auth"
			a[len(a)-2] = &pl
			return a
		}, at("1-11", "2.3", "12", "3.3")},
		{"2.4 no create event", func(r *testRoom) []*pdu.PDU {
			return std(r)[1:]
		}, at("1-11", "2.4")},
		{"2.5 auth event of another room", func(r *testRoom) []*pdu.PDU {
			a := std(r)
			m := *a[len(a)-1]
			m.RoomID = "!other:b.org"
			a[len(a)-1] = &m
			return a
		}, at("1-11", "2.5", "12", "3.4")},
	}
	for _, tc := range tests {
		for vid, want := range tc.want {
			t.Run(tc.name+"/v"+vid, func(t *testing.T) {
				r := newRoom(t, vid)
				authEvents := tc.auth(r)
				ev := newMessage(t, typeMessage, bob, `{}`, withRoom(r.id))
				for _, a := range authEvents {
					ev.AuthEvents = append(ev.AuthEvents, a.EventID)
				}
				err := eventauth.CheckAuthEvents(r.v, ev, authEvents)
				if got := ruleOf(t, err); got != want {
					t.Errorf("CheckAuthEvents() = %v, want rule %q", err, want)
				}
			})
		}
	}

	t.Run("missing auth event", func(t *testing.T) {
		r := newRoom(t, "10")
		ev := newMessage(t, typeMessage, bob, `{}`, withRoom(r.id), withAuth("$gone:a.com"))
		err := eventauth.CheckAuthEvents(r.v, ev, []*pdu.PDU{nil})
		if !errors.Is(err, eventauth.ErrAuthEventNotFound) || errors.Is(err, eventauth.ErrUnauthorized) {
			t.Errorf("CheckAuthEvents() = %v, want ErrAuthEventNotFound and not ErrUnauthorized", err)
		}
	})
}

func TestAuthorizeByAuthEvents(t *testing.T) {
	for _, vid := range []string{"1", "6", "10", "11", "12"} {
		t.Run("v"+vid, func(t *testing.T) {
			r := newRoom(t, vid)
			ok := r.message(typeMessage, bob, `{}`)
			if err := eventauth.AuthorizeByAuthEvents(r.v, ok, r.fetch, testOptions); err != nil {
				t.Errorf("AuthorizeByAuthEvents(message from member) = %v, want nil", err)
			}
			if err := eventauth.AuthorizeByAuthEvents(r.v, r.create, r.fetch, testOptions); err != nil {
				t.Errorf("AuthorizeByAuthEvents(create) = %v, want nil", err)
			}
			// carol's auth events cannot show her joined.
			bad := r.message(typeMessage, carol, `{}`)
			err := eventauth.AuthorizeByAuthEvents(r.v, bad, r.fetch, testOptions)
			if !errors.Is(err, eventauth.ErrSenderNotJoined) {
				t.Errorf("AuthorizeByAuthEvents(message from non-member) = %v, want ErrSenderNotJoined", err)
			}
			// An auth event we do not have.
			gone := r.message(typeMessage, bob, `{}`)
			gone.AuthEvents = append(gone.AuthEvents, "$unknown:x.org")
			if err := eventauth.AuthorizeByAuthEvents(r.v, gone, r.fetch, testOptions); !errors.Is(err, eventauth.ErrAuthEventNotFound) {
				t.Errorf("AuthorizeByAuthEvents(unknown auth event) = %v, want ErrAuthEventNotFound", err)
			}
			// An auth event of the wrong shape for the event.
			wrong := r.message(typeMessage, bob, `{}`)
			wrong.AuthEvents = append(wrong.AuthEvents, r.state[eventauth.StateKey{Type: eventauth.TypeJoinRules}].EventID)
			if err := eventauth.AuthorizeByAuthEvents(r.v, wrong, r.fetch, testOptions); !errors.Is(err, eventauth.ErrUnexpectedAuthEvent) {
				t.Errorf("AuthorizeByAuthEvents(extra auth event) = %v, want ErrUnexpectedAuthEvent", err)
			}
		})
	}
	t.Run("v12 unknown create event", func(t *testing.T) {
		r := newRoom(t, "12")
		// Auth events from the real room, whose room_id differs (rule 3.4),
		// but rule 2 comes first.
		ev := r.message(typeMessage, bob, `{}`, withRoom("!nosuchroom"))
		if got := ruleOf(t, eventauth.AuthorizeByAuthEvents(r.v, ev, r.fetch, testOptions)); got != "2" {
			t.Errorf("AuthorizeByAuthEvents(auth events of another room) rule %q, want 2", got)
		}
		// A room ID naming an event that is not a create event.
		ev = r.message(typeMessage, bob, `{}`, withRoom("!"+r.last[1:]))
		if got := ruleOf(t, eventauth.AuthorizeByAuthEvents(r.v, ev, r.fetch, testOptions)); got != "2" {
			t.Errorf("AuthorizeByAuthEvents(room named by a member event) rule %q, want 2", got)
		}
		// No auth events at all: nothing names a create event.
		ev = r.message(typeMessage, bob, `{}`, withRoom("!nosuchroom"), withAuth())
		ev.AuthEvents = []string{}
		if got := ruleOf(t, eventauth.AuthorizeByAuthEvents(r.v, ev, r.fetch, testOptions)); got != "2" {
			t.Errorf("AuthorizeByAuthEvents(unknown room) rule %q, want 2", got)
		}
	})
}

func TestAuthorizeLookupError(t *testing.T) {
	r := newRoom(t, "10")
	boom := errors.New("disk on fire")
	lookup := func(k eventauth.StateKey) (*pdu.PDU, error) {
		if k.Type == eventauth.TypePowerLevels {
			return nil, boom
		}
		return r.state.Lookup(k)
	}
	err := eventauth.Authorize(r.v, r.message(typeMessage, bob, `{}`), lookup, nil)
	if !errors.Is(err, boom) || errors.Is(err, eventauth.ErrUnauthorized) {
		t.Errorf("Authorize() = %v, want the lookup error and not ErrUnauthorized", err)
	}
	if err := eventauth.Authorize(nil, nil, nil, nil); err == nil || errors.Is(err, eventauth.ErrUnauthorized) {
		t.Errorf("Authorize(nil...) = %v, want a usage error", err)
	}
}

func TestSignedByOption(t *testing.T) {
	r := newRoom(t, "10")
	r.joinRule("restricted")
	ev := member(r, carol, carol, fmt.Sprintf(`{"membership":"join","join_authorised_via_users_server":%q}`, mod), signedBy("a.com"))
	var asked []string
	opts := &eventauth.Options{SignedBy: func(e *pdu.PDU, server string) bool {
		asked = append(asked, server)
		return false
	}}
	err := eventauth.Authorize(r.v, ev, r.state.Lookup, opts)
	if !errors.Is(err, eventauth.ErrNotSignedByAuthoriser) {
		t.Errorf("Authorize() = %v, want ErrNotSignedByAuthoriser", err)
	}
	if diff := cmp.Diff([]string{"a.com"}, asked); diff != "" {
		t.Errorf("SignedBy calls (-want +got):\n%s", diff)
	}
}

func TestThirdPartySignedOption(t *testing.T) {
	r := newRoom(t, "10")
	tpSetup(r)
	ev := member(r, alice, carol, tpContent(r, carol, signedBlock(t, carol, "tok", tpPriv)))
	var keys []string
	opts := &eventauth.Options{ThirdPartySigned: func(signed json.RawMessage, publicKey string) bool {
		keys = append(keys, publicKey)
		return false
	}}
	if err := eventauth.Authorize(r.v, ev, r.state.Lookup, opts); !errors.Is(err, eventauth.ErrThirdPartySignature) {
		t.Errorf("Authorize() with a refusing ThirdPartySigned = %v, want ErrThirdPartySignature", err)
	}
	if diff := cmp.Diff([]string{tpPub}, keys); diff != "" {
		t.Errorf("ThirdPartySigned calls (-want +got):\n%s", diff)
	}
	if err := eventauth.Authorize(r.v, ev, r.state.Lookup, nil); err != nil {
		t.Errorf("Authorize() with the default verifier = %v, want nil", err)
	}
}
