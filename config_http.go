package hearth

import (
	"fmt"
	"strconv"
	"time"
)

// HTTPConfig bounds how long and how many connections the HTTP listeners
// of `hearth serve` keep, so slow or idle clients cannot hold them all.
type HTTPConfig struct {
	// ReadTimeout bounds reading a request's headers, and a body's time
	// beyond what its size needs at MinBodyRate.
	ReadTimeout string `yaml:"read_timeout"`
	// MinBodyRate is the slowest a request body may arrive, in bytes per
	// second, once ReadTimeout's allowance is used up.
	MinBodyRate string `yaml:"min_body_rate"`
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its answer; it must leave room for /sync's long-poll (at most 5
	// minutes) and for downloads.
	WriteTimeout string `yaml:"write_timeout"`
	// IdleTimeout closes a kept-alive connection that sends no new request.
	IdleTimeout string `yaml:"idle_timeout"`
	// MaxConnsPerIP caps the open connections from one address (an IPv6
	// /64 counts as one address); further ones are closed at once.
	MaxConnsPerIP string `yaml:"max_conns_per_ip"`
}

// HTTPLimits is HTTPConfig parsed.
type HTTPLimits struct {
	ReadTimeout   time.Duration
	MinBodyRate   int64 // bytes per second
	WriteTimeout  time.Duration
	IdleTimeout   time.Duration
	MaxConnsPerIP int
}

func (h *HTTPConfig) keys() []ConfigKey {
	return []ConfigKey{
		{"http.read_timeout", &h.ReadTimeout, "time to read request headers, and a body's time beyond its size at http.min_body_rate"},
		{"http.min_body_rate", &h.MinBodyRate, "slowest accepted request body, in bytes per second"},
		{"http.write_timeout", &h.WriteTimeout, "longest a request may take to answer (leave room for /sync's 5-minute long-poll)"},
		{"http.idle_timeout", &h.IdleTimeout, "how long an idle kept-alive connection stays open"},
		{"http.max_conns_per_ip", &h.MaxConnsPerIP, "most open connections from one address (IPv6: one /64)"},
	}
}

// Limits parses the section; Validate reports what does not parse.
func (h *HTTPConfig) Limits() (HTTPLimits, error) {
	var l HTTPLimits
	for _, d := range []struct {
		key string
		v   string
		to  *time.Duration
	}{
		{"http.read_timeout", h.ReadTimeout, &l.ReadTimeout},
		{"http.write_timeout", h.WriteTimeout, &l.WriteTimeout},
		{"http.idle_timeout", h.IdleTimeout, &l.IdleTimeout},
	} {
		t, err := time.ParseDuration(d.v)
		if err != nil || t <= 0 {
			return l, fmt.Errorf("config: %s is %q; it must be a positive duration such as 30s or 10m", d.key, d.v)
		}
		*d.to = t
	}
	rate, err := strconv.ParseInt(h.MinBodyRate, 10, 64)
	if err != nil || rate <= 0 {
		return l, fmt.Errorf("config: http.min_body_rate is %q; it must be a positive number of bytes per second", h.MinBodyRate)
	}
	l.MinBodyRate = rate
	n, err := strconv.Atoi(h.MaxConnsPerIP)
	if err != nil || n <= 0 {
		return l, fmt.Errorf("config: http.max_conns_per_ip is %q; it must be a positive number", h.MaxConnsPerIP)
	}
	l.MaxConnsPerIP = n
	return l, nil
}
