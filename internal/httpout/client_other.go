//go:build !js

package httpout

import (
	"net/http"
	"time"
)

// New returns a client whose requests, answers included, time out after
// timeout (none when 0).
func New(timeout time.Duration) Client {
	return &http.Client{Timeout: timeout}
}
