package hearth

import (
	"fmt"
	"time"
)

// Backoff is the outbound retry timing of federation.
type Backoff struct {
	Min, Max, CatchUpAfter time.Duration
}

// Backoff parses federation.min_backoff, max_backoff and catch_up_after:
// positive durations, max_backoff at least min_backoff. Empty values take
// the defaults (10s, 1h, 1h).
func (f *FederationConfig) Backoff() (Backoff, error) {
	b := Backoff{Min: 10 * time.Second, Max: time.Hour, CatchUpAfter: time.Hour}
	for _, d := range []struct {
		key, v string
		to     *time.Duration
	}{
		{"federation.min_backoff", f.MinBackoff, &b.Min},
		{"federation.max_backoff", f.MaxBackoff, &b.Max},
		{"federation.catch_up_after", f.CatchUpAfter, &b.CatchUpAfter},
	} {
		if d.v == "" {
			continue
		}
		t, err := time.ParseDuration(d.v)
		if err != nil || t <= 0 {
			return b, fmt.Errorf("config: %s is %q; it must be a positive duration such as 30s or 1h", d.key, d.v)
		}
		*d.to = t
	}
	if b.Max < b.Min {
		return b, fmt.Errorf("config: federation.max_backoff (%s) is shorter than federation.min_backoff (%s)", b.Max, b.Min)
	}
	return b, nil
}
