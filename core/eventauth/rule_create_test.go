package eventauth_test

import (
	"fmt"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// createCases cover rules 1–4: the create event, the room ID (v12),
// m.federate and m.room.aliases (v1–v5).
var createCases = []ruleCase{
	// Rule 1: m.room.create.
	{
		name:  "create allowed",
		room:  emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU { return r.create },
		want:  at("1-12", ""),
	},
	{
		name: "1.1 create with prev_events",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.PrevEvents = []string{"$other:a.com"}
			return &e
		},
		want: at("1-12", "1.1"),
	},
	{
		name: "1.2 room_id domain differs from sender (v12: room_id present)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.RoomID = "!room:elsewhere.org"
			return &e
		},
		want: at("1-12", "1.2"),
	},
	{
		name: "1.3 unknown room_version",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"room_version":"99"}`, alice))
			return &e
		},
		want: at("1-12", "1.3"),
	},
	{
		name: "1.3 room_version not a string",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"room_version":10}`, alice))
			return &e
		},
		want: at("1-12", "1.3"),
	},
	{
		name: "1.3 no room_version is allowed",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q}`, alice))
			return &e
		},
		want: at("1-12", ""),
	},
	{
		name: "1.4 no creator (v1–v10 only)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(`{}`)
			return &e
		},
		want: at("1-10", "1.4", "11-12", ""),
	},
	{
		name: "1.4 additional_creators not an array (v12)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"additional_creators":%q}`, alice, bob))
			return &e
		},
		want: at("1-11", "", "12", "1.4"),
	},
	{
		name: "1.4 additional_creators holds a non-user (v12)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"additional_creators":[%q,"bob"]}`, alice, bob))
			return &e
		},
		want: at("1-11", "", "12", "1.4"),
	},
	{
		name: "1.4 additional_creators valid (v12)",
		room: emptyRoomOnly,
		event: func(r *testRoom) *pdu.PDU {
			e := *r.create
			e.Content = []byte(fmt.Sprintf(`{"creator":%q,"additional_creators":[%q,%q]}`, alice, bob, "@:x.org"))
			return &e
		},
		want: at("1-12", ""),
	},

	// Rule 2 (v12): the room ID names an accepted create event.
	{
		name: "2 room_id does not name the create event (v12)",
		event: func(r *testRoom) *pdu.PDU {
			return r.message(typeMessage, bob, `{}`, withRoom("!someotherroom"))
		},
		want: at("12", "2"),
	},
	{
		name: "2 create event rejected (v12); 2.4 no create in state (v1–v11)",
		setup: func(r *testRoom) {
			if r.v.RoomIDFromCreateEvent {
				c := *r.create
				c.Internal.Rejected = "bad"
				r.put(&c)
			} else {
				delete(r.state, eventauth.StateKey{Type: eventauth.TypeCreate})
			}
		},
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, bob, `{}`) },
		want:  at("1-11", "2.4", "12", "2"),
	},

	// Rule 3 (4 in v12): m.federate.
	{
		name: "3 m.federate false refuses other servers",
		setup: func(r *testRoom) {
			c := *r.create
			c.Content = []byte(fmt.Sprintf(`{"creator":%q,"m.federate":false}`, alice))
			r.put(&c)
		},
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, bob, `{}`) },
		want:  at("1-11", "3", "12", "4"),
	},
	{
		name: "3 m.federate false allows the creator's server",
		setup: func(r *testRoom) {
			c := *r.create
			c.Content = []byte(fmt.Sprintf(`{"creator":%q,"m.federate":false}`, alice))
			r.put(&c)
		},
		event: func(r *testRoom) *pdu.PDU { return r.message(typeMessage, mod, `{}`) },
		want:  at("1-12", ""),
	},

	// Rule 4 (v1–v5): m.room.aliases.
	{
		name: "4 aliases for the sender's domain need no power (v1–v5)",
		event: func(r *testRoom) *pdu.PDU {
			return r.state_(eventauth.TypeAliases, bob, "b.org", `{"aliases":["#x:b.org"]}`)
		},
		want: at("1-5", "", "6-11", "7", "12", "8"),
	},
	{
		name:  "4.1 aliases without state_key",
		event: func(r *testRoom) *pdu.PDU { return r.message(eventauth.TypeAliases, bob, `{}`) },
		want:  at("1-5", "4.1", "6-12", ""),
	},
	{
		name:  "4.2 aliases for another domain",
		event: func(r *testRoom) *pdu.PDU { return r.state_(eventauth.TypeAliases, bob, "a.com", `{}`) },
		want:  at("1-5", "4.2"),
	},
	{
		name:  "4 aliases from a non-member (v1–v5)",
		event: func(r *testRoom) *pdu.PDU { return r.state_(eventauth.TypeAliases, carol, "c.net", `{}`) },
		want:  at("1-5", "", "6-11", "5", "12", "6"),
	},
}
