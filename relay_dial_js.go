package hearth

import "hearth.dev/hearth/relay"

// relayHTTPClient is empty in the browser: the relay client dials with the
// page's own WebSocket (relay/dial_js.go), whose TLS is the browser's, so
// no Go HTTP transport (and no crypto/tls) is linked for it.
func relayHTTPClient(Config) (relay.DialClient, error) {
	return relay.DialClient{}, nil
}
