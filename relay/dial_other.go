//go:build !js

package relay

import "github.com/coder/websocket"

func dialOptions(o ClientOptions) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: o.HTTPClient, Subprotocols: []string{Subprotocol}}
}
