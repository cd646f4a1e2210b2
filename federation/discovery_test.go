package federation

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeLookup answers SRV lookups and well-knowns from maps and counts
// well-known fetches.
type fakeLookup struct {
	srv       map[string][]*net.SRV // "_service._proto.name"
	wellKnown map[string]fakeWellKnown
	fetches   map[string]int
}

type fakeWellKnown struct {
	server string
	ttl    time.Duration
	err    error
}

func (f *fakeLookup) LookupSRV(ctx context.Context, service, proto, name string) ([]*net.SRV, error) {
	r, ok := f.srv["_"+service+"._"+proto+"."+name]
	if !ok {
		return nil, errors.New("no such host")
	}
	return r, nil
}

func (f *fakeLookup) WellKnown(ctx context.Context, hostname string) (string, time.Duration, error) {
	if f.fetches == nil {
		f.fetches = map[string]int{}
	}
	f.fetches[hostname]++
	wk, ok := f.wellKnown[hostname]
	if !ok {
		return "", 0, errors.New("well-known: status 404")
	}
	return wk.server, wk.ttl, wk.err
}

func TestDiscoveryOrder(t *testing.T) {
	lookup := &fakeLookup{
		srv: map[string][]*net.SRV{
			"_matrix-fed._tcp.srv.example":   {{Target: "a.srv-target.example.", Port: 1111}, {Target: "b.srv-target.example.", Port: 2222}},
			"_matrix._tcp.oldsrv.example":    {{Target: "old-target.example.", Port: 3333}},
			"_matrix-fed._tcp.deleg.example": {{Target: "fed-target.example.", Port: 4444}},
			"_matrix-fed._tcp.both.example":  {{Target: "new.example.", Port: 5555}},
			"_matrix._tcp.both.example":      {{Target: "old.example.", Port: 6666}},
			"_matrix-fed._tcp.wk.example":    {{Target: "ignored.example.", Port: 1}},
			"_matrix-fed._tcp.dot.example":   {{Target: ".", Port: 0}},
		},
		wellKnown: map[string]fakeWellKnown{
			"wk-ip.example":         {server: "192.0.2.7"},
			"wk-ip6port.example":    {server: "[2001:db8::7]:9000"},
			"wk-port.example":       {server: "host.example:7000"},
			"wk.example":            {server: "deleg.example"},
			"wk-plain.example":      {server: "plain-deleg.example"},
			"wk-bad.example":        {server: "not a server name"},
			"wk-srv-legacy.example": {server: "oldsrv.example"},
		},
	}
	d := NewDiscovery(lookup, map[string]string{"override.example": "127.0.0.1:9999", "127.0.0.5:1": "127.0.0.6:2"}, nil)
	for _, tt := range []struct {
		name string
		want []Target
	}{
		// federation.resolve first, even for IP literals.
		{"override.example", []Target{{"127.0.0.1:9999", "override.example", "override.example"}}},
		{"127.0.0.5:1", []Target{{"127.0.0.6:2", "127.0.0.5:1", "127.0.0.5"}}},
		// 1. IP literals, with and without port.
		{"127.0.0.1:8448", []Target{{"127.0.0.1:8448", "127.0.0.1:8448", "127.0.0.1"}}},
		{"192.0.2.1", []Target{{"192.0.2.1:8448", "192.0.2.1", "192.0.2.1"}}},
		{"[::1]:9", []Target{{"[::1]:9", "[::1]:9", "::1"}}},
		{"[2001:db8::1]", []Target{{"[2001:db8::1]:8448", "[2001:db8::1]", "2001:db8::1"}}},
		// 2. Explicit port: no well-known, no SRV.
		{"wk.example:443", []Target{{"wk.example:443", "wk.example:443", "wk.example"}}},
		// 3.1 Delegated to an IP literal.
		{"wk-ip.example", []Target{{"192.0.2.7:8448", "192.0.2.7", "192.0.2.7"}}},
		{"wk-ip6port.example", []Target{{"[2001:db8::7]:9000", "[2001:db8::7]:9000", "2001:db8::7"}}},
		// 3.2 Delegated with a port.
		{"wk-port.example", []Target{{"host.example:7000", "host.example:7000", "host.example"}}},
		// 3.3 Delegated without a port: SRV of the delegated name, Host and
		// certificate of the delegated name (not wk.example's own SRV).
		{"wk.example", []Target{{"fed-target.example:4444", "deleg.example", "deleg.example"}}},
		// 3.4 The deprecated _matrix._tcp of the delegated name.
		{"wk-srv-legacy.example", []Target{{"old-target.example:3333", "oldsrv.example", "oldsrv.example"}}},
		// 3.5 Delegated, no SRV: port 8448.
		{"wk-plain.example", []Target{{"plain-deleg.example:8448", "plain-deleg.example", "plain-deleg.example"}}},
		// An invalid m.server counts as an error: step 4.
		{"wk-bad.example", []Target{{"wk-bad.example:8448", "wk-bad.example", "wk-bad.example"}}},
		// 4. No well-known: _matrix-fed._tcp, all records in order.
		{"srv.example", []Target{{"a.srv-target.example:1111", "srv.example", "srv.example"}, {"b.srv-target.example:2222", "srv.example", "srv.example"}}},
		// _matrix-fed wins over _matrix.
		{"both.example", []Target{{"new.example:5555", "both.example", "both.example"}}},
		// 5. The deprecated _matrix._tcp.
		{"oldsrv.example", []Target{{"old-target.example:3333", "oldsrv.example", "oldsrv.example"}}},
		// A "." target means no service: on to 8448.
		{"dot.example", []Target{{"dot.example:8448", "dot.example", "dot.example"}}},
		// 6. Nothing: port 8448.
		{"plain.example", []Target{{"plain.example:8448", "plain.example", "plain.example"}}},
	} {
		got, err := d.Resolve(context.Background(), tt.name)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Resolve(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
	for _, bad := range []string{"", "a b", "example.org:99999", "[::1"} {
		if _, err := d.Resolve(context.Background(), bad); err == nil {
			t.Errorf("Resolve(%q) succeeded", bad)
		}
	}
}

func TestDiscoveryCachesWellKnown(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	lookup := &fakeLookup{wellKnown: map[string]fakeWellKnown{
		"default.example": {server: "d.example:1"},
		"short.example":   {server: "s.example:1", ttl: time.Hour},
		"long.example":    {server: "l.example:1", ttl: 30 * 24 * time.Hour},
	}}
	d := NewDiscovery(lookup, nil, func() time.Time { return now })
	resolve := func(name string) {
		t.Helper()
		if _, err := d.Resolve(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"default.example", "short.example", "long.example", "missing.example"} {
		resolve(n)
		resolve(n)
	}
	want := map[string]int{"default.example": 1, "short.example": 1, "long.example": 1, "missing.example": 1}
	if diff := cmp.Diff(want, lookup.fetches); diff != "" {
		t.Fatalf("fetches after two resolves each (-want +got):\n%s", diff)
	}
	step := func(d time.Duration, expect map[string]int) {
		t.Helper()
		now = now.Add(d)
		for n := range want {
			resolve(n)
		}
		if diff := cmp.Diff(expect, lookup.fetches); diff != "" {
			t.Fatalf("fetches at +%s (-want +got):\n%s", d, diff)
		}
	}
	// Errors are cached 10 minutes, the header's hour is respected.
	step(11*time.Minute, map[string]int{"default.example": 1, "short.example": 1, "long.example": 1, "missing.example": 2})
	// A repeated failure is cached twice as long.
	step(11*time.Minute, map[string]int{"default.example": 1, "short.example": 1, "long.example": 1, "missing.example": 2})
	step(10*time.Minute, map[string]int{"default.example": 1, "short.example": 1, "long.example": 1, "missing.example": 3})
	step(30*time.Minute, map[string]int{"default.example": 1, "short.example": 2, "long.example": 1, "missing.example": 3})
	// The default is 24 hours; 30 days is cut to 48 hours.
	step(24*time.Hour, map[string]int{"default.example": 2, "short.example": 3, "long.example": 1, "missing.example": 4})
	step(24*time.Hour, map[string]int{"default.example": 3, "short.example": 4, "long.example": 2, "missing.example": 5})
}

func TestCacheTTL(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tt := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Cache-Control": {"public, max-age=3600"}}, time.Hour},
		{http.Header{"Cache-Control": {"no-store"}}, time.Nanosecond},
		{http.Header{"Cache-Control": {"max-age=0"}}, time.Nanosecond},
		{http.Header{"Expires": {now.Add(2 * time.Hour).UTC().Format(http.TimeFormat)}}, 2 * time.Hour},
		{http.Header{"Cache-Control": {"max-age=60"}, "Expires": {now.Add(2 * time.Hour).UTC().Format(http.TimeFormat)}}, time.Minute},
	} {
		if got := cacheTTL(tt.h, now); got != tt.want {
			t.Errorf("cacheTTL(%v) = %s, want %s", tt.h, got, tt.want)
		}
	}
}
