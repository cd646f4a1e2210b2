//go:build !js

package relay

import (
	"net/http"

	"github.com/coder/websocket"
)

// DialClient is the HTTP client that dials the relay's WebSocket.
type DialClient = *http.Client

func dialOptions(o ClientOptions) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: o.HTTPClient, Subprotocols: []string{Subprotocol}}
}
