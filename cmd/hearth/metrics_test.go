package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth"
	"hearth.dev/hearth/metrics"
)

// The metrics listener serves GET /metrics and nothing else.
func TestServeMetrics(t *testing.T) {
	reg := metrics.New(nil)
	reg.Gauge("hearth_test_up", "Up.", func(context.Context) ([]metrics.Sample, error) {
		return []metrics.Sample{{Value: 1}}, nil
	})
	limits := hearth.HTTPLimits{ReadTimeout: time.Minute, MinBodyRate: 1024, WriteTimeout: time.Minute, IdleTimeout: time.Minute}
	errc := make(chan error, 1)
	srv, err := serveMetrics("127.0.0.1:0", reg, false, limits, slog.New(slog.DiscardHandler), errc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr := srv.Addr
	if addr == "" {
		t.Fatal("no address")
	}
	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("GET", "/metrics"); code != 200 || !strings.Contains(body, "hearth_test_up 1\n") {
		t.Errorf("GET /metrics = %d %q", code, body)
	}
	if code, _ := get("GET", "/"); code != 404 {
		t.Errorf("GET / = %d, want 404", code)
	}
	if code, _ := get("POST", "/metrics"); code != 405 {
		t.Errorf("POST /metrics = %d, want 405", code)
	}
	if code, _ := get("GET", "/debug/pprof/heap"); code != 404 {
		t.Errorf("GET /debug/pprof/heap without metrics.profiles = %d, want 404", code)
	}
}

// With metrics.profiles on, the metrics listener serves Go's profiles too.
func TestServeMetricsProfiles(t *testing.T) {
	limits := hearth.HTTPLimits{ReadTimeout: time.Minute, MinBodyRate: 1024, WriteTimeout: time.Minute, IdleTimeout: time.Minute}
	srv, err := serveMetrics("127.0.0.1:0", metrics.New(nil), true, limits, slog.New(slog.DiscardHandler), make(chan error, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for path, check := range map[string]func([]byte) bool{
		// A profile is gzipped protobuf.
		"/debug/pprof/heap":   func(b []byte) bool { return len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b },
		"/debug/pprof/allocs": func(b []byte) bool { return len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b },
		"/debug/pprof/":       func(b []byte) bool { return strings.Contains(string(b), "goroutine") },
	} {
		resp, err := http.Get("http://" + srv.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !check(b) {
			t.Errorf("GET %s = %d, %d bytes: not a profile", path, resp.StatusCode, len(b))
		}
	}
}
