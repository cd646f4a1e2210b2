package eventauth_test

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"io/fs"
	"testing"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

//go:embed testdata/*.jsonl
var rooms embed.FS

// roomHeader is the first line of a room fixture.
type roomHeader struct {
	RoomVersion string `json:"room_version"`
	RoomID      string `json:"room_id"` // empty in v12: derived from the create event
}

// fixtureEvent is one later line: an event in a compact form plus the
// expected outcome, "allow" or the number of the rule that rejects it.
// Omitted auth events are selected from the state at that point; omitted
// prev events are the last event; omitted signatures are the sender's
// server's.
type fixtureEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Sender     string          `json:"sender"`
	StateKey   *string         `json:"state_key"`
	Content    json.RawMessage `json:"content"`
	Redacts    *string         `json:"redacts"`
	Auth       []string        `json:"auth"`
	Prev       []string        `json:"prev"`
	Signatures []string        `json:"signatures"`
	Expect     string          `json:"expect"`
}

// replayRoom runs a fixture through the checks on receipt that need no
// keys: the event against its own auth events (check 4), then against the
// state before it (check 5). Rejected events are kept, marked, and left
// out of the state.
func replayRoom(t *testing.T, data []byte) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	if !sc.Scan() {
		t.Fatal("empty fixture")
	}
	var h roomHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		t.Fatalf("header: %v", err)
	}
	v, err := roomversion.Lookup(roomversion.ID(h.RoomVersion))
	if err != nil {
		t.Fatal(err)
	}
	roomID := h.RoomID
	events := map[string]*pdu.PDU{}
	state := eventauth.StateMap{}
	fetch := func(id string) (*pdu.PDU, error) { return events[id], nil }
	last := ""
	for line := 2; sc.Scan(); line++ {
		var fe fixtureEvent
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fe); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		ev := &pdu.PDU{
			EventID: fe.ID, Type: fe.Type, Sender: fe.Sender, StateKey: fe.StateKey,
			Content: fe.Content, Redacts: fe.Redacts, OriginServerTS: int64(line),
			AuthEvents: fe.Auth, PrevEvents: fe.Prev, RoomID: roomID,
		}
		if ev.Type == eventauth.TypeCreate {
			if v.RoomIDFromCreateEvent {
				ev.RoomID = ""
				roomID = "!" + fe.ID[1:]
			}
		} else {
			if ev.PrevEvents == nil {
				ev.PrevEvents = []string{last}
			}
			if ev.AuthEvents == nil {
				ids, err := eventauth.SelectAuthEvents(v, ev, state.Lookup)
				if err != nil {
					t.Fatal(err)
				}
				ev.AuthEvents = ids
			}
		}
		signers := fe.Signatures
		if signers == nil {
			signers = []string{serverOf(fe.Sender)}
		}
		sign(ev, signers...)

		err := eventauth.AuthorizeByAuthEvents(v, ev, fetch, testOptions)
		if err == nil {
			err = eventauth.Authorize(v, ev, state.Lookup, testOptions)
		}
		got := "allow"
		if err != nil {
			got = ruleOf(t, err)
		}
		if got != fe.Expect {
			t.Errorf("line %d (%s %s by %s): got %s (%v), want %s", line, fe.ID, fe.Type, fe.Sender, got, err, fe.Expect)
		}
		if err != nil {
			ev.Internal.Rejected = err.Error()
		} else if ev.StateKey != nil {
			state[eventauth.StateKey{Type: ev.Type, StateKey: *ev.StateKey}] = ev
		}
		if err == nil {
			last = ev.EventID
		}
		events[ev.EventID] = ev
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRooms(t *testing.T) {
	names, err := fs.Glob(rooms, "testdata/*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no room fixtures embedded")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data, err := rooms.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			replayRoom(t, data)
		})
	}
}
