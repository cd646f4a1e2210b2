package hearth

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkFederationFanOut20 measures the outbound fan-out of one
// message to 20 destinations: a room on a.test joined by the owners of
// 20 other homeservers (each built by Open, served over HTTP on
// loopback); one op is a message sent through a's client API until all
// 20 servers have taken in the /send transaction that carries it
// (checked, persisted and answered).
func BenchmarkFederationFanOut20(b *testing.B) {
	const receivers = 20
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.openWrapped(b, "a.test", "alice", nil)
	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)

	var marker atomic.Pointer[string] // the body of the message in flight
	got := make(chan int, receivers*4)
	var seen [receivers]atomic.Pointer[string] // the last marker each receiver reported
	for i := range receivers {
		watch := func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/_matrix/federation/v1/send/") {
					h.ServeHTTP(w, r)
					return
				}
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				h.ServeHTTP(w, r)
				m := marker.Load()
				if m != nil && bytes.Contains(body, []byte(*m)) && seen[i].Swap(m) != m {
					got <- i
				}
			})
		}
		s := n.openWrapped(b, fmt.Sprintf("r%d.test", i), fmt.Sprintf("user%d", i), watch)
		s.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name=a.test", s.token, map[string]any{})
	}
	// Wait until every receiver has taken in the joins of the others, so
	// the benchmark does not time catch-up.
	warm := "warm-up"
	marker.Store(&warm)
	a.send(roomID, warm)
	for range receivers {
		<-got
	}

	k := 0
	for b.Loop() {
		k++
		body := fmt.Sprintf("fan-out message %d", k)
		marker.Store(&body)
		a.send(roomID, body)
		for range receivers {
			<-got
		}
	}
	b.ReportMetric(float64(receivers), "destinations")
}
