package hearth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"hearth.dev/hearth/modules/moduletest"
)

// BenchmarkSendKeywordFilter sends messages one after another over HTTP
// with the keyword filter on and off: sends/s, and the p50 and p99 of a
// send. The difference of the p50s is the filter's cost per send.
func BenchmarkSendKeywordFilter(b *testing.B) {
	filter := moduletest.Build(b, "hearth.dev/hearth/examples/modules/keyword-filter")
	for _, on := range []bool{false, true} {
		name := "filter=off"
		if on {
			name = "filter=on"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.DataDir = b.TempDir()
			if on {
				cfg.Modules = []ModuleConfig{{Path: filter, Config: map[string]any{"words": []any{"casino", "crypto", "giveaway"}}}}
			}
			hs, err := Open(context.Background(), cfg, OpenOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer hs.Close()
			srv := httptest.NewServer(hs.Handler)
			defer srv.Close()
			c := moduleClient{base: srv.URL}
			tok := moduleUserTB(b, hs, "owner")
			code, out := c.callTB(b, "POST", "/_matrix/client/v3/createRoom", tok, []byte(`{}`))
			if code != 200 {
				b.Fatalf("createRoom: %d %v", code, out)
			}
			room := out["room_id"].(string)
			body := []byte(`{"msgtype":"m.text","body":"an ordinary message of an ordinary length, nothing to see here"}`)
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				t0 := time.Now()
				req, _ := http.NewRequest("PUT", srv.URL+sendPath(room, fmt.Sprint("b", i)), bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("send: %d", resp.StatusCode)
				}
				times = append(times, time.Since(t0))
			}
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}
