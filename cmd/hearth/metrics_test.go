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
	srv, err := serveMetrics("127.0.0.1:0", reg, limits, slog.New(slog.DiscardHandler), errc)
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
}
