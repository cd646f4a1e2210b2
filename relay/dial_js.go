package relay

import "github.com/coder/websocket"

// DialClient is empty in the browser: the page's WebSocket dials and its
// TLS is the browser's. A *http.Client here would link net/http's
// Transport, and crypto/tls with it, into the tab's build.
type DialClient = struct{}

// In the browser the page's WebSocket dials; TLS is the browser's.
func dialOptions(ClientOptions) *websocket.DialOptions {
	return &websocket.DialOptions{Subprotocols: []string{Subprotocol}}
}
