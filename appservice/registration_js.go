package appservice

import (
	"errors"

	core "hearth.dev/hearth/core/appservice"
)

// parseRegistration refuses: the browser build reads no registration
// files (a tab has none), and leaves the YAML parser out of its download.
func parseRegistration([]byte) (*core.Registration, error) {
	return nil, errors.New("registration files are not read in the browser build")
}
