package hearth

import (
	"net"
	"net/http"
	"net/url"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/matrixhttp"
)

// WellKnownServer returns the m.server of /.well-known/matrix/server
// (server discovery step 3: where other servers reach this one's
// federation API when the server name alone does not say), or "" when
// there is none to give:
//
//  1. federation.well_known_server, when set;
//  2. relay.name, when the server name delegates to a relay's node name;
//  3. when federation.listen is set (with TLS on: a listener behind a TLS
//     proxy has a port no one outside sees) and differs from listen, the
//     host of public_base_url (else of the server name) with
//     federation.listen's port; never for a server name that is an IP
//     literal, which discovery connects to directly.
func (c *Config) WellKnownServer() string {
	f := c.Federation
	switch {
	case f.WellKnownServer != "":
		return f.WellKnownServer
	case c.Relay.Name != "":
		return c.Relay.Name
	case f.Listen == "" || f.Listen == c.Listen || f.TLS == "off":
		return ""
	}
	_, port, err := net.SplitHostPort(f.Listen)
	if err != nil || port == "" || port == "0" {
		return ""
	}
	host := c.ServerName
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil || host == "" {
		return ""
	}
	if u, err := url.Parse(c.PublicBaseURL); err == nil && c.PublicBaseURL != "" && u.Hostname() != "" && net.ParseIP(u.Hostname()) == nil {
		host = u.Hostname()
	}
	out := net.JoinHostPort(host, port)
	if _, err := id.ParseServerName(out); err != nil {
		return ""
	}
	return out
}

// wellKnownServer answers GET /.well-known/matrix/server on the client
// listener: {"m.server": ...}, or M_NOT_FOUND when there is no delegation
// (other servers then go on with SRV records and port 8448).
func wellKnownServer(server string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if server == "" {
			matrixhttp.WriteError(w, r, core.ErrNotFound.WithMessage("this server does not delegate federation"))
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		matrixhttp.WriteJSON(w, http.StatusOK, map[string]string{"m.server": server})
	}
}
