package hearth

import (
	"fmt"
	"strings"
	"time"

	"hearth.dev/hearth/core/clientapi"
)

// The operator's keys: shared-secret registration and TURN servers (as
// Synapse names them), and the metrics listener.

// StringList is a list of strings given as a YAML list, or comma-separated
// in a flag or an environment variable. It is kept in its comma-separated
// form.
type StringList string

// Items returns the list's non-empty items.
func (l StringList) Items() []string {
	var out []string
	for _, item := range strings.Split(string(l), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// MetricsConfig configures the Prometheus metrics listener.
type MetricsConfig struct {
	// Listen is the address GET /metrics is served on, apart from the
	// client and federation listeners; empty: no metrics.
	Listen string `yaml:"listen"`
	// Profiles is "on" to serve Go's runtime profiles (net/http/pprof:
	// heap, allocations, CPU, goroutines) under /debug/pprof/ on the
	// same listener, "off" otherwise.
	Profiles string `yaml:"profiles"`
}

func (c *Config) operatorKeys() []ConfigKey {
	return []ConfigKey{
		{"registration_shared_secret", &c.RegistrationSharedSecret, "secret for /_synapse/admin/v1/register (HMAC nonce registration); empty: off"},
		{"turn_uris", (*string)(&c.TURNURIs), "TURN server URIs for VoIP (a YAML list, or comma-separated)"},
		{"turn_shared_secret", &c.TURNSharedSecret, "secret shared with the TURN servers, for time-limited credentials"},
		{"turn_user_lifetime", &c.TURNUserLifetime, "how long TURN credentials stay valid (e.g. 1h)"},
		{"metrics.listen", &c.Metrics.Listen, "address of the Prometheus metrics listener (plain HTTP, keep it private); empty: off"},
		{"metrics.profiles", &c.Metrics.Profiles, "on: the metrics listener also serves Go's runtime profiles at /debug/pprof/; off"},
	}
}

// validateOperator checks the operator's keys.
func (c *Config) validateOperator() error {
	if p := c.Metrics.Profiles; p != "on" && p != "off" {
		return fmt.Errorf("config: metrics.profiles is %q; it must be one of on, off", p)
	}
	if _, err := c.TURN(); err != nil {
		return err
	}
	for _, u := range c.TURNURIs.Items() {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return fmt.Errorf("config: turn_uris: %q is not a turn: or turns: URI", u)
		}
	}
	return nil
}

// TURN returns the TURN settings; the lifetime must parse as a positive
// duration when set.
func (c *Config) TURN() (clientapi.TURNSettings, error) {
	t := clientapi.TURNSettings{URIs: c.TURNURIs.Items(), SharedSecret: c.TURNSharedSecret}
	if c.TURNUserLifetime != "" {
		d, err := time.ParseDuration(c.TURNUserLifetime)
		if err != nil || d <= 0 {
			return t, fmt.Errorf("config: turn_user_lifetime is %q; it must be a positive duration such as 1h", c.TURNUserLifetime)
		}
		t.UserLifetime = d
	}
	return t, nil
}
