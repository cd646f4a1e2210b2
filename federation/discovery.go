package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"hearth.dev/hearth/core/id"
)

// Well-known caching (server-server API, "Resolving server names", step
// 3): the response's cache headers, 24 hours without them, at most 48
// hours; errors are cached for ten minutes, doubling on each repeated
// failure up to an hour.
const (
	wellKnownDefaultTTL = 24 * time.Hour
	wellKnownMaxTTL     = 48 * time.Hour
	wellKnownMinTTL     = 5 * time.Minute
	wellKnownErrorTTL   = 10 * time.Minute
	wellKnownMaxErrTTL  = time.Hour
)

// DefaultFederationPort is the port a server name without one is reached
// at when no delegation says otherwise.
const DefaultFederationPort = 8448

// Target is where to send a request for a server name: the address to dial
// (a host, resolved with A/AAAA records, or an IP literal, and a port), the
// Host header to send and the name the certificate must be valid for.
type Target struct {
	Addr    string
	Host    string
	TLSName string
}

// Lookup is what server discovery asks the network: SRV records and a
// host's /.well-known/matrix/server. Tests use a fake.
type Lookup interface {
	// LookupSRV returns the SRV records of _service._proto.name in the
	// order to try them; "no such record" is an empty list or an error.
	LookupSRV(ctx context.Context, service, proto, name string) ([]*net.SRV, error)
	// WellKnown fetches https://<hostname>/.well-known/matrix/server and
	// returns its m.server and how long the answer may be cached (0: the
	// response said nothing). Any failure, including a non-200 answer or
	// bad JSON, is an error.
	WellKnown(ctx context.Context, hostname string) (server string, ttl time.Duration, err error)
}

// Discovery resolves server names to targets in the order of the
// server-server API's "Resolving server names", with the federation.resolve
// overrides first, and caches /.well-known answers.
type Discovery struct {
	lookup    Lookup
	overrides map[string]string
	now       func() time.Time

	mu        sync.Mutex
	wellKnown map[string]wellKnownEntry
}

type wellKnownEntry struct {
	server   string // "" after an error
	expires  time.Time
	failures int
}

// NewDiscovery returns a resolver using lookup, with overrides mapping a
// server name to the host:port to use instead of discovery. now is the
// clock (nil: time.Now).
func NewDiscovery(lookup Lookup, overrides map[string]string, now func() time.Time) *Discovery {
	if now == nil {
		now = time.Now
	}
	return &Discovery{lookup: lookup, overrides: overrides, now: now, wellKnown: map[string]wellKnownEntry{}}
}

// Resolve returns the targets for serverName, in the order to try them
// (several only when SRV records give several).
func (d *Discovery) Resolve(ctx context.Context, serverName string) ([]Target, error) {
	name, err := id.ParseServerName(serverName)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	host := name.Host()
	tlsName := strings.Trim(host, "[]")
	if addr, ok := d.overrides[serverName]; ok {
		return []Target{{Addr: addr, Host: serverName, TLSName: tlsName}}, nil
	}
	port, hasPort := name.Port()
	if hasPort && (port == 0 || port > 65535) {
		return nil, fmt.Errorf("federation: %q: port out of range", serverName)
	}
	// 1. An IP literal: that address, the port given or 8448; Host is the
	// server name.
	if isIPLiteral(host) {
		return []Target{{Addr: joinHostPort(host, port, hasPort), Host: serverName, TLSName: tlsName}}, nil
	}
	// 2. A hostname with an explicit port: its A/AAAA records.
	if hasPort {
		return []Target{{Addr: serverName, Host: serverName, TLSName: host}}, nil
	}
	// 3. /.well-known/matrix/server.
	if delegated, ok := d.wellKnownServer(ctx, host); ok {
		dname, err := id.ParseServerName(delegated)
		if err == nil {
			return d.resolveDelegated(ctx, dname)
		}
	}
	// 4.-6. SRV _matrix-fed._tcp, then _matrix._tcp, then port 8448, all
	// with Host and certificate of the hostname.
	if ts := d.srv(ctx, host, host); len(ts) > 0 {
		return ts, nil
	}
	return []Target{{Addr: joinHostPort(host, 0, false), Host: host, TLSName: host}}, nil
}

// resolveDelegated follows steps 3.1 to 3.5 for a valid m.server.
func (d *Discovery) resolveDelegated(ctx context.Context, name id.ServerName) ([]Target, error) {
	host := name.Host()
	port, hasPort := name.Port()
	if hasPort && (port == 0 || port > 65535) {
		return nil, fmt.Errorf("federation: delegated %q: port out of range", name)
	}
	if isIPLiteral(host) {
		// 3.1: Host "containing the IP address, including the port if one
		// was provided".
		return []Target{{Addr: joinHostPort(host, port, hasPort), Host: string(name), TLSName: strings.Trim(host, "[]")}}, nil
	}
	if hasPort {
		return []Target{{Addr: string(name), Host: string(name), TLSName: host}}, nil // 3.2
	}
	if ts := d.srv(ctx, host, host); len(ts) > 0 {
		return ts, nil // 3.3, 3.4
	}
	return []Target{{Addr: joinHostPort(host, 0, false), Host: host, TLSName: host}}, nil // 3.5
}

// srv looks up _matrix-fed._tcp.<lookupName>, then the deprecated
// _matrix._tcp.<lookupName>; the targets carry Host and TLS name hostname.
func (d *Discovery) srv(ctx context.Context, lookupName, hostname string) []Target {
	for _, service := range []string{"matrix-fed", "matrix"} {
		records, err := d.lookup.LookupSRV(ctx, service, "tcp", lookupName)
		if err != nil {
			continue
		}
		var out []Target
		for _, r := range records {
			target := strings.TrimSuffix(r.Target, ".")
			if target == "" {
				continue // "." : the service is decidedly not available
			}
			out = append(out, Target{Addr: net.JoinHostPort(target, strconv.Itoa(int(r.Port))), Host: hostname, TLSName: hostname})
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// wellKnownServer returns hostname's m.server from the cache or the
// network; ok is false when there is no valid one.
func (d *Discovery) wellKnownServer(ctx context.Context, hostname string) (string, bool) {
	now := d.now()
	d.mu.Lock()
	e, cached := d.wellKnown[hostname]
	d.mu.Unlock()
	if cached && now.Before(e.expires) {
		return e.server, e.server != ""
	}
	server, ttl, err := d.lookup.WellKnown(ctx, hostname)
	if err == nil {
		if _, perr := id.ParseServerName(server); perr != nil {
			err = fmt.Errorf("m.server %q: %w", server, perr)
		}
	}
	if err != nil && ctx.Err() != nil {
		return "", false // our own cancellation says nothing about the server
	}
	if err != nil {
		failures := 1
		if cached && e.server == "" {
			failures = e.failures + 1
		}
		ttl := wellKnownErrorTTL << min(failures-1, 3)
		d.store(hostname, wellKnownEntry{expires: now.Add(min(ttl, wellKnownMaxErrTTL)), failures: failures})
		return "", false
	}
	switch {
	case ttl == 0:
		ttl = wellKnownDefaultTTL
	case ttl > wellKnownMaxTTL:
		ttl = wellKnownMaxTTL
	case ttl < wellKnownMinTTL:
		ttl = wellKnownMinTTL
	}
	d.store(hostname, wellKnownEntry{server: server, expires: now.Add(ttl)})
	return server, true
}

func (d *Discovery) store(hostname string, e wellKnownEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.wellKnown) > 10_000 {
		clear(d.wellKnown) // a bound, not an eviction policy: entries are cheap to refetch
	}
	d.wellKnown[hostname] = e
}

func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// joinHostPort joins a hostname (an IPv6 literal keeps or gains its
// brackets) with the port, or 8448.
func joinHostPort(host string, port int, hasPort bool) string {
	if !hasPort {
		port = DefaultFederationPort
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))
}

// errNoTargets is returned when every target of a destination failed to
// connect.
var errNoTargets = errors.New("federation: no target of the destination could be reached")
