package web

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// benchRequests runs b.N requests made by req through the handler, one
// after the other, and reports the median latency besides ns/op.
func benchRequests(b *testing.B, env *roomEnv, req func(i int) (method, path string, body any), token string) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		method, path, body := req(i)
		start := time.Now()
		r := env.do(method, path, token, body)
		lat = append(lat, time.Since(start))
		if r.Status != 200 {
			b.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkSendMessage is PUT /rooms/{roomId}/send/m.room.message/{txnId}
// end to end through the handler, on a real database, sequentially.
func BenchmarkSendMessage(b *testing.B) {
	for _, version := range []string{"10", "12"} {
		b.Run("v"+version, func(b *testing.B) {
			env := newRoomEnv(b)
			alice := env.user("alice", false)
			roomID := env.createRoom(alice, map[string]any{"room_version": version, "preset": "private_chat", "name": "bench"})
			body := `{"msgtype":"m.text","body":"hello, this is a benchmark message of ordinary length"}`
			path := cs + "/rooms/" + roomID + "/send/m.room.message/"
			benchRequests(b, env, func(i int) (string, string, any) {
				return "PUT", path + "b" + strconv.Itoa(i), body
			}, alice)
		})
	}
}

// BenchmarkPutState is PUT /rooms/{roomId}/state/m.room.topic, each request
// a new state event (and a new state group).
func BenchmarkPutState(b *testing.B) {
	env := newRoomEnv(b)
	alice := env.user("alice", false)
	roomID := env.createRoom(alice, map[string]any{"preset": "private_chat", "name": "bench"})
	path := cs + "/rooms/" + roomID + "/state/m.room.topic"
	benchRequests(b, env, func(i int) (string, string, any) {
		return "PUT", path, `{"topic":"topic number ` + strconv.Itoa(i) + `"}`
	}, alice)
}
