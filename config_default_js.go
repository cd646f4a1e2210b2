package hearth

import "errors"

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	c, err := defaultsOf(DefaultConfigYAML)
	if err != nil {
		panic("default config: " + err.Error())
	}
	return c
}

// LoadConfigFile refuses: the browser build takes its configuration from
// Hearth.start's options, and leaves the YAML parser out of its download.
func (c *Config) LoadConfigFile(path string) error {
	return errors.New(path + ": configuration files are not read in the browser build")
}
