package eventauth_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

func ExampleAuthorize() {
	v, _ := roomversion.Lookup("10")
	sk := func(s string) *string { return &s }
	create := &pdu.PDU{EventID: "$create", RoomID: "!r:example.org", Type: "m.room.create",
		Sender: "@alice:example.org", StateKey: sk(""), Content: json.RawMessage(`{"creator":"@alice:example.org"}`)}
	join := &pdu.PDU{EventID: "$join", RoomID: "!r:example.org", Type: "m.room.member",
		Sender: "@alice:example.org", StateKey: sk("@alice:example.org"), Content: json.RawMessage(`{"membership":"join"}`)}
	state := eventauth.NewStateMap(create, join)

	// Bob is not in the room.
	msg := &pdu.PDU{EventID: "$msg", RoomID: "!r:example.org", Type: "m.room.message",
		Sender: "@bob:example.org", Content: json.RawMessage(`{"body":"hi"}`)}
	err := eventauth.Authorize(v, msg, state.Lookup, nil)

	var ae *eventauth.AuthError
	if errors.As(err, &ae) {
		fmt.Println("rule", ae.Rule, errors.Is(err, eventauth.ErrSenderNotJoined))
	}
	// Output: rule 5 true
}
