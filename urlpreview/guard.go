package urlpreview

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"hearth.dev/hearth/federation"
)

// ErrForbiddenAddress is returned when a preview would connect to an
// address the SSRF guard refuses.
var ErrForbiddenAddress = errors.New("urlpreview: address not allowed (loopback, private, link-local, CGNAT or multicast)")

// guardedDialer dials TCP and refuses, after name resolution and just
// before connecting, every address federation's SSRF guard refuses
// (federation.AllowedAddress), unless allowPrivate: a DNS answer or a
// redirect cannot point the server at its own network.
func guardedDialer(allowPrivate bool, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
			}
			if !federation.AllowedAddress(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
			}
			return nil
		}
	}
	return d
}
