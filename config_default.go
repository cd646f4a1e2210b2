package hearth

import (
	"fmt"
	"strconv"
	"strings"
)

// defaultsOf reads the default configuration (default-config.yaml) without
// a YAML parser, for the browser build, which leaves the parser out: the
// file is one level of sections of "key: scalar" lines, and every key is
// one of ConfigKeys (or an empty list, "[]", the zero value). Natively
// DefaultConfig parses the file with YAML; a test checks that both agree.
func defaultsOf(text string) (Config, error) {
	var c Config
	keys := map[string]*string{}
	for _, k := range c.ConfigKeys() {
		keys[k.Name] = k.Value
	}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			return c, fmt.Errorf("line %d: not a key: %q", i+1, line)
		}
		value = strings.TrimSpace(value)
		indented := line[0] == ' '
		if !indented {
			section = ""
		}
		if value == "" && !indented {
			section = key + "."
			continue
		}
		if value == "[]" {
			continue
		}
		if strings.HasPrefix(value, `"`) {
			s, err := strconv.Unquote(value)
			if err != nil {
				return c, fmt.Errorf("line %d: %w", i+1, err)
			}
			value = s
		}
		p, ok := keys[section+key]
		if !ok {
			return c, fmt.Errorf("line %d: %s is not a configuration key", i+1, section+key)
		}
		*p = value
	}
	return c, nil
}
