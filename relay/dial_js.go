package relay

import "github.com/coder/websocket"

// In the browser the page's WebSocket dials; TLS is the browser's.
func dialOptions(ClientOptions) *websocket.DialOptions {
	return &websocket.DialOptions{Subprotocols: []string{Subprotocol}}
}
