package main

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// perIPListener caps the open connections from one address: a client that
// opens more (for example thousands of slow requests that never finish
// authenticating) has the extra ones closed as soon as they are accepted,
// and everyone else is still served. An IPv6 address counts by its /64,
// the block one host usually has.
type perIPListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu   sync.Mutex
	open map[netip.Prefix]int
	// refusedLogged keeps one warning per address until its count falls.
	refusedLogged map[netip.Prefix]bool
}

func limitPerIP(ln net.Listener, max int, log *slog.Logger) *perIPListener {
	return &perIPListener{Listener: ln, max: max, log: log,
		open: map[netip.Prefix]int{}, refusedLogged: map[netip.Prefix]bool{}}
}

// Accept returns the next connection within its address's cap.
func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := addrKey(c.RemoteAddr())
		if !ok {
			return c, nil // not an IP connection (a Unix socket): no cap
		}
		l.mu.Lock()
		if l.open[key] >= l.max {
			first := !l.refusedLogged[key]
			l.refusedLogged[key] = true
			l.mu.Unlock()
			if first {
				l.log.Warn("too many connections from one address; closing new ones", "addr", key.String(), "max", l.max)
			}
			c.Close()
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &countedConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *perIPListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
		delete(l.refusedLogged, key)
	}
}

// addrKey is the address a connection counts against: the IPv4 address,
// or the /64 of an IPv6 one.
func addrKey(a net.Addr) (netip.Prefix, bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// countedConn gives its address's slot back when it is closed.
type countedConn struct {
	net.Conn
	l    *perIPListener
	key  netip.Prefix
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
