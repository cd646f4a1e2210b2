package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("scrape: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}

func TestInstrumentAndScrape(t *testing.T) {
	reg := New(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rooms/{roomId}/state", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	mux.HandleFunc("PUT /rooms/{roomId}/state", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) })
	app := httptest.NewServer(reg.Instrument(mux))
	t.Cleanup(app.Close)
	for _, p := range []string{"/rooms/!a:x/state", "/rooms/!b:x/state", "/nowhere/secret-token"} {
		resp, err := http.Get(app.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest("PUT", app.URL+"/rooms/!a:x/state", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	req, _ = http.NewRequest("BREW", app.URL+"/rooms/!a:x/state", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	reg.Gauge("hearth_test_queue", "Queued \"things\"\nper place.", func(context.Context) ([]Sample, error) {
		return []Sample{{Labels: []Label{{"destination", `a"b\c`}}, Value: 3}}, nil
	})
	reg.Gauge("hearth_test_broken", "Fails.", func(context.Context) ([]Sample, error) { return nil, errors.New("down") })
	reg.HistogramFunc("hearth_test_batch", "Batch sizes.", func() Histogram {
		return Histogram{Bounds: []float64{1, 2, 4}, Counts: []uint64{5, 2, 1}, Count: 9, Sum: 25}
	})
	metricsSrv := httptest.NewServer(reg)
	t.Cleanup(metricsSrv.Close)
	out := scrape(t, metricsSrv.URL)

	for _, want := range []string{
		"# TYPE hearth_http_requests_total counter\n",
		`hearth_http_requests_total{endpoint="/rooms/{roomId}/state",method="GET",status="200"} 2` + "\n",
		`hearth_http_requests_total{endpoint="/rooms/{roomId}/state",method="PUT",status="403"} 1` + "\n",
		`hearth_http_requests_total{endpoint="unmatched",method="GET",status="404"} 1` + "\n",
		`method="other"`,
		"# TYPE hearth_http_request_duration_seconds histogram\n",
		`hearth_http_request_duration_seconds_bucket{endpoint="/rooms/{roomId}/state",method="GET",le="+Inf"} 2` + "\n",
		`hearth_http_request_duration_seconds_count{endpoint="/rooms/{roomId}/state",method="GET"} 2` + "\n",
		"# HELP hearth_test_queue Queued \"things\"\\nper place.\n",
		`hearth_test_queue{destination="a\"b\\c"} 3` + "\n",
		`hearth_test_batch_bucket{le="1"} 5` + "\n",
		`hearth_test_batch_bucket{le="2"} 7` + "\n",
		`hearth_test_batch_bucket{le="4"} 8` + "\n",
		`hearth_test_batch_bucket{le="+Inf"} 9` + "\n",
		"hearth_test_batch_sum 25\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	for _, bad := range []string{"!a:x", "secret-token", "hearth_test_broken", "BREW"} {
		if strings.Contains(out, bad) {
			t.Errorf("scrape contains %q", bad)
		}
	}
	// Every line is a comment or "name{labels} value".
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 || !strings.HasPrefix(line, "hearth_") {
			t.Errorf("malformed line %q", line)
		}
	}
	resp, err := http.Post(metricsSrv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to metrics: %d", resp.StatusCode)
	}
}

func TestEndpointOf(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "unmatched",
		"GET /health":            "/health",
		"/_matrix/key/":          "/_matrix/key/",
		"POST example.org/a/{b}": "/a/{b}",
	} {
		if got := endpointOf(in); got != want {
			t.Errorf("endpointOf(%q) = %q, want %q", in, got, want)
		}
	}
}
