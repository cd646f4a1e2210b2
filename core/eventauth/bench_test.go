package eventauth_test

import (
	"testing"

	"hearth.dev/hearth/core/eventauth"
)

// BenchmarkAuthorizeMessage checks one message event against a room's
// state: the common case on every send.
func BenchmarkAuthorizeMessage(b *testing.B) {
	for _, vid := range []string{"10", "12"} {
		b.Run("v"+vid, func(b *testing.B) {
			r := newRoom(b, vid)
			ev := r.message(typeMessage, bob, `{"msgtype":"m.text","body":"hello"}`)
			b.ReportAllocs()
			for b.Loop() {
				if err := eventauth.Authorize(r.v, ev, r.state.Lookup, testOptions); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthorizeByAuthEvents adds the checks on the event's own
// auth_events (check 4 on receipt of a PDU).
func BenchmarkAuthorizeByAuthEvents(b *testing.B) {
	r := newRoom(b, "10")
	ev := r.message(typeMessage, bob, `{"msgtype":"m.text","body":"hello"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := eventauth.AuthorizeByAuthEvents(r.v, ev, r.fetch, testOptions); err != nil {
			b.Fatal(err)
		}
	}
}
