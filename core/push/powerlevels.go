package push

import (
	"encoding/json"
	"strconv"
	"strings"
)

// NotificationLevels reads content.notifications of an m.room.power_levels
// event's content (for Context.NotificationLevels). Levels written as
// strings, which old room versions allow, are read as integers; values
// that are not integers are left out, as are non-object contents (nil is
// returned then, meaning the defaults).
func NotificationLevels(powerLevelsContent []byte) map[string]int64 {
	var c struct {
		Notifications map[string]json.RawMessage `json:"notifications"`
	}
	if len(powerLevelsContent) == 0 || json.Unmarshal(powerLevelsContent, &c) != nil || c.Notifications == nil {
		return nil
	}
	out := make(map[string]int64, len(c.Notifications))
	for k, raw := range c.Notifications {
		if n, ok := parseLevel(raw); ok {
			out[k] = n
		}
	}
	return out
}

// parseLevel reads a power level: a JSON integer, or a string holding one.
func parseLevel(raw json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return n, err == nil
	}
	var f json.Number
	if json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	if n, err := f.Int64(); err == nil {
		return n, true
	}
	if x, err := f.Float64(); err == nil && x == float64(int64(x)) {
		return int64(x), true
	}
	return 0, false
}
