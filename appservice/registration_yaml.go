//go:build !js

package appservice

import (
	"gopkg.in/yaml.v3"

	core "hearth.dev/hearth/core/appservice"
)

// parseRegistration reads a registration file's YAML.
func parseRegistration(b []byte) (*core.Registration, error) {
	var r core.Registration
	if err := yaml.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
