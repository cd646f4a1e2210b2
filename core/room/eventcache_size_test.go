package room

import (
	"fmt"
	"runtime"
	"testing"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// TestPDUSizeEstimate: the size the event cache counts for a parsed event
// is close to what parsing it really keeps on the heap (within a quarter
// below, a half above), so the cache's budget is a budget of real bytes.
func TestPDUSizeEstimate(t *testing.T) {
	v, err := roomversion.Lookup(roomversion.Default)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.GenerateKey("size")
	if err != nil {
		t.Fatal(err)
	}
	sk := "@alice:hearth.test"
	for _, tc := range []struct {
		name    string
		content string
		state   *string
	}{
		{"member", `{"membership":"join","displayname":"Alice"}`, &sk},
		{"message", `{"msgtype":"m.text","body":"` + fmt.Sprintf("%0300d", 7) + `"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &pdu.PDU{RoomID: "!rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrE", Sender: sk, Type: "m.room.member",
				StateKey: tc.state, Content: []byte(tc.content), OriginServerTS: 1700000000000, Depth: 12,
				AuthEvents: []string{"$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaE", "$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbE", "$ccccccccccccccccccccccccccccccccccccccccccE"},
				PrevEvents: []string{"$ddddddddddddddddddddddddddddddddddddddddddE"}}
			if err := signing.SignEvent(v, ev, "hearth.test", key.ID, key.Private); err != nil {
				t.Fatal(err)
			}
			js, err := ev.MarshalFor(v)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2000
			parsed := make([]*pdu.PDU, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range parsed {
				if parsed[i], err = pdu.Parse(v, js); err != nil {
					t.Fatal(err)
				}
				parsed[i].EventID = fmt.Sprintf("$%042dE", i)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			real := float64(after.HeapAlloc-before.HeapAlloc) / n
			est := float64(pduBytes(parsed[0]))
			runtime.KeepAlive(parsed)
			t.Logf("%s: %.0f bytes on the heap, %.0f estimated (%d bytes of JSON)", tc.name, real, est, len(js))
			if est < real*3/4 || est > real*3/2 {
				t.Errorf("estimated %.0f bytes for a parsed event that holds %.0f", est, real)
			}
		})
	}
}
