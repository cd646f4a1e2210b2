package stateres_test

import (
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/stateres"
)

func ExampleResolve() {
	v, _ := roomversion.Lookup("10")
	events := map[string]*pdu.PDU{}
	add := func(id, typ, sender, stateKey, content string, ts int64, auth ...string) stateres.StateKey {
		sk := stateKey
		events[id] = &pdu.PDU{EventID: id, RoomID: "!r:example.org", Type: typ, Sender: sender,
			StateKey: &sk, Content: json.RawMessage(content), OriginServerTS: ts, AuthEvents: auth}
		return stateres.StateKey{Type: typ, StateKey: stateKey}
	}
	const alice = "@alice:example.org"
	create := add("$create", "m.room.create", alice, "", `{"creator":"@alice:example.org"}`, 1)
	join := add("$join", "m.room.member", alice, alice, `{"membership":"join"}`, 2, "$create")
	topic := add("$topic1", "m.room.topic", alice, "", `{"topic":"one"}`, 3, "$create", "$join")
	add("$topic2", "m.room.topic", alice, "", `{"topic":"two"}`, 4, "$create", "$join")

	// Two forks of the room disagree on the topic.
	fork1 := stateres.StateMap{create: "$create", join: "$join", topic: "$topic1"}
	fork2 := stateres.StateMap{create: "$create", join: "$join", topic: "$topic2"}

	fetch := func(id string) (*pdu.PDU, error) { return events[id], nil }
	resolved, err := stateres.Resolve(v, []stateres.StateMap{fork1, fork2}, fetch, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Same power, same mainline position: the later topic is applied last.
	fmt.Println(resolved[topic])
	// Output: $topic2
}
