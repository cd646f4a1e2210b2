package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned when an outbound connection would reach
// an address the SSRF guard refuses.
var ErrForbiddenAddress = errors.New("federation: address not allowed (loopback, private, link-local, CGNAT or multicast)")

// blockedPrefixes are the ranges outbound federation never connects to
// unless federation.allow_private_addresses is true, like Synapse's
// ip_range_blacklist: this host, loopback, RFC 1918, CGNAT, link-local,
// benchmarking, documentation, multicast and reserved, and their IPv6
// counterparts.
var blockedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "192.88.99.0/24",
		"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"255.255.255.255/32",
		"::/128", "::1/128", "fe80::/10", "fc00::/7", "ff00::/8", "2001:db8::/32", "64:ff9b:1::/48",
		"100::/64", "2001::/23",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// AllowedAddress reports whether outbound federation may connect to ip
// while private addresses are not allowed. IPv4-mapped IPv6 addresses are
// judged as the IPv4 address they carry.
func AllowedAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// guardedDialer dials TCP and refuses, after name resolution and just
// before connecting, any address AllowedAddress refuses (so a DNS answer
// cannot point federation at the local network).
func guardedDialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
			}
			if !AllowedAddress(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
			}
			return nil
		}
	}
	return d
}

// dialContext is a DialContext function using d.
func dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.DialContext
}
