package room_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// BenchmarkStoreSendJoin10k measures joining a remote room whose state
// holds 10,000 events (members): every event's signature and hash
// checked, the auth chain and state stored as outliers, a state group
// made of them, the join persisted. It reports the heap in use after.
func BenchmarkStoreSendJoin10k(b *testing.B) {
	v, _ := roomversion.Lookup("10")
	for b.Loop() {
		b.StopTimer()
		f := newFedFixture(b)
		roomID := "!big:" + remoteName
		mk := func(s spec) built {
			if s.sender == "" {
				s.sender = bob
			}
			return build(b, v, roomID, remoteName, f.remote.key, s)
		}
		create := mk(spec{typ: "m.room.create", stateKey: sk(""), content: `{"room_version":"10","creator":"` + bob + `"}`, auth: []string{}})
		st := core.StateMap{{Type: "m.room.create"}: create.id}
		bobJoin := mk(spec{typ: "m.room.member", stateKey: sk(bob), content: `{"membership":"join"}`, prevs: []*pdu.PDU{create.ev}, state: st})
		st[core.StateKey{Type: "m.room.member", StateKey: bob}] = bobJoin.id
		jr := mk(spec{typ: "m.room.join_rules", stateKey: sk(""), content: `{"join_rule":"public"}`, prevs: []*pdu.PDU{bobJoin.ev}, state: st})
		st[core.StateKey{Type: "m.room.join_rules"}] = jr.id
		state := []json.RawMessage{create.raw, bobJoin.raw, jr.raw}
		chain := []json.RawMessage{create.raw, bobJoin.raw, jr.raw}
		prev := jr.ev
		for i := range 10000 - 3 {
			user := fmt.Sprintf("@u%d:%s", i, remoteName)
			m := mk(spec{sender: user, typ: "m.room.member", stateKey: sk(user), content: `{"membership":"join"}`, prevs: []*pdu.PDU{prev}, state: st})
			state = append(state, m.raw)
			prev = m.ev
		}
		join := build(b, v, roomID, server, f.key, spec{sender: alice, typ: "m.room.member", stateKey: sk(alice),
			content: `{"membership":"join"}`, prevs: []*pdu.PDU{prev}, auth: []string{create.id, jr.id}})
		resp := &core.SendJoinResponse{State: state, AuthChain: chain}
		runtime.GC()
		b.StartTimer()
		if _, err := f.fed.StoreSendJoin(context.Background(), remoteName, "10", join.raw, resp); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := len(f.current(b, roomID)); got != 10001 {
			b.Fatalf("current state has %d entries, want 10,001", got)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-heap-after")
		b.StartTimer()
	}
}
