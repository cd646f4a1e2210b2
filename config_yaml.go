//go:build !js

package hearth

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// The YAML side of the configuration: native only, so that the browser
// build (which takes its configuration from Hearth.start's options, and
// its defaults from config_default.go) leaves the YAML parser out.

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	var c Config
	if err := yaml.Unmarshal([]byte(DefaultConfigYAML), &c); err != nil {
		panic("default config: " + err.Error())
	}
	return c
}

// LoadConfigFile reads a YAML file over c. Unknown keys are an error, so a
// typo does not go unnoticed.
func (c *Config) LoadConfigFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// UnmarshalYAML accepts a list or a comma-separated string.
func (l *PathList) UnmarshalYAML(n *yaml.Node) error {
	s, err := listOrString(n)
	if err == nil {
		*l = PathList(s)
	}
	return err
}

// UnmarshalYAML accepts a list or a comma-separated string.
func (l *CIDRList) UnmarshalYAML(n *yaml.Node) error {
	s, err := listOrString(n)
	if err == nil {
		*l = CIDRList(s)
	}
	return err
}

// UnmarshalYAML accepts a list or a string.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	s, err := listOrString(n)
	if err == nil {
		*l = StringList(s)
	}
	return err
}

// listOrString reads a YAML list of strings as one comma-separated string,
// or a string as it is.
func listOrString(n *yaml.Node) (string, error) {
	if n.Kind == yaml.SequenceNode {
		var items []string
		if err := n.Decode(&items); err != nil {
			return "", err
		}
		return strings.Join(items, ","), nil
	}
	var s string
	err := n.Decode(&s)
	return s, err
}
