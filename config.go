package hearth

import (
	_ "embed"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"hearth.dev/hearth/core/id"
)

// DefaultConfigYAML is the commented default configuration that
// `hearth serve --generate-config` prints.
//
//go:embed default-config.yaml
var DefaultConfigYAML string

// Config is a homeserver's configuration. Every key can come from the YAML
// file, from a HEARTH_<KEY> environment variable (nested keys joined by
// '_': HEARTH_DATABASE_STATE_FILE) and from a command-line flag; flags win
// over the environment, the environment over the file.
type Config struct {
	// ServerName is the server's name. Empty takes the name stored in the
	// database, or DefaultServerName for a new database; a name that
	// differs from the stored one is refused (a homeserver cannot be
	// renamed).
	ServerName   string `yaml:"server_name"`
	Listen       string `yaml:"listen"`
	DataDir      string `yaml:"data_dir"`
	Registration string `yaml:"registration"` // closed | token | open
	RateLimits   string `yaml:"rate_limits"`  // on | off
	// TrustedProxies lists the reverse proxies (CIDRs) whose
	// X-Forwarded-For header gives the client's address; empty trusts none.
	TrustedProxies CIDRList `yaml:"trusted_proxies"`
	// PublicBaseURL is the client-server API's public URL, for
	// /.well-known/matrix/client; empty derives it from each request.
	PublicBaseURL string           `yaml:"public_base_url"`
	LogLevel      string           `yaml:"log_level"` // debug | info | warn | error
	Database      DatabaseConfig   `yaml:"database"`
	Media         MediaConfig      `yaml:"media"`
	Limits        LimitsConfig     `yaml:"limits"`
	Federation    FederationConfig `yaml:"federation"`
	Relay         RelayConfig      `yaml:"relay"`
	HTTP          HTTPConfig       `yaml:"http"`
	// AppServices are the application services' registration files
	// (Synapse's YAML format).
	AppServices PathList `yaml:"app_services"`
	// RegistrationSharedSecret enables /_synapse/admin/v1/register;
	// empty: off (config_operator.go).
	RegistrationSharedSecret string `yaml:"registration_shared_secret"`
	// TURNURIs, TURNSharedSecret and TURNUserLifetime answer
	// GET /voip/turnServer (config_operator.go).
	TURNURIs         StringList `yaml:"turn_uris"`
	TURNSharedSecret string     `yaml:"turn_shared_secret"`
	TURNUserLifetime string     `yaml:"turn_user_lifetime"`
	// Metrics is the Prometheus metrics listener (config_operator.go).
	Metrics MetricsConfig `yaml:"metrics"`
	// Modules are the WebAssembly extension modules (config_modules.go).
	Modules []ModuleConfig `yaml:"modules"`
	// ModulePaths are more modules, without config: HEARTH_MODULES and
	// --module (comma separated).
	ModulePaths PathList `yaml:"-"`
	// StateCompression configures the background compression of state
	// groups (statecompression.go).
	StateCompression StateCompressionConfig `yaml:"state_compression"`
	// Memory bounds the caches and sets the garbage collector
	// (config_memory.go).
	Memory MemoryConfig `yaml:"memory"`
}

// RelayConfig connects a node that cannot accept connections (behind NAT,
// or a browser tab) to a relay, which answers federation for it.
type RelayConfig struct {
	// URL is the relay's wss://RELAY/_hearth/relay/v1/connect; empty: no
	// relay.
	URL string `yaml:"url"`
	// Token is the enrollment token `hearth relay node add` printed; only
	// the first connection needs it.
	Token string `yaml:"token"`
	// Outbound is "on" to send outbound federation through the relay too
	// (always so in the browser), "off" to send it directly.
	Outbound string `yaml:"outbound"`
	// Name is NAME.RELAYDOMAIN when server_name is a domain of its own
	// whose /.well-known/matrix/server delegates to it; empty: the server
	// name is NAME.RELAYDOMAIN itself.
	Name string `yaml:"name"`
}

// LimitsConfig bounds what one request may ask for.
type LimitsConfig struct {
	// MaxCreateRoomInvites bounds the invite list of one createRoom.
	MaxCreateRoomInvites string `yaml:"max_create_room_invites"`
}

// FederationConfig configures the server-server API: the inbound listener
// and how outbound requests find and trust other servers.
type FederationConfig struct {
	// Listen is the federation listener's address; empty: no inbound
	// federation.
	Listen string `yaml:"listen"`
	// TLSCertFile and TLSKeyFile are the listener's PEM certificate and key,
	// required while TLS is "on".
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// TLS is "on" (HTTPS) or "off" (plain HTTP behind a proxy that
	// terminates TLS).
	TLS string `yaml:"tls"`
	// CAFile holds extra PEM roots trusted for outbound requests.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify is "true" to skip certificate checks outbound
	// (test harnesses only).
	InsecureSkipVerify string `yaml:"insecure_skip_verify"`
	// AllowPrivateAddresses is "true" to let outbound requests reach
	// loopback, private, link-local, CGNAT and multicast addresses.
	AllowPrivateAddresses string `yaml:"allow_private_addresses"`
	// Resolve is "name=host:port" pairs, comma separated, consulted before
	// server discovery.
	Resolve string `yaml:"resolve"`
	// TrustedKeyServers is a comma-separated list of notary server names.
	TrustedKeyServers string `yaml:"trusted_key_servers"`
	// WellKnownServer is the m.server that GET /.well-known/matrix/server
	// names on the client listener (host or host:port); empty derives it
	// (Config.WellKnownServer).
	WellKnownServer string `yaml:"well_known_server"`
	// MinBackoff, MaxBackoff and CatchUpAfter are the outbound retry
	// timings (FederationConfig.Backoff).
	MinBackoff   string `yaml:"min_backoff"`
	MaxBackoff   string `yaml:"max_backoff"`
	CatchUpAfter string `yaml:"catch_up_after"`
}

// DatabaseConfig says where the database files are and how they are synced.
type DatabaseConfig struct {
	// StateFile puts the logical database "state" (state groups) in its own
	// file, relative to the data folder unless absolute. Empty keeps it in
	// hearth.db.
	StateFile string `yaml:"state_file"`
	// Synchronous is "normal" (survives a crash of hearth) or "full" (also
	// survives power loss).
	Synchronous string `yaml:"synchronous"`
}

// MediaConfig configures the content repository (uploads and downloads).
type MediaConfig struct {
	// MaxUploadBytes bounds an upload, in bytes.
	MaxUploadBytes string `yaml:"max_upload_bytes"`
	// LegacyUnauthenticatedDownload is "true" to let the deprecated
	// unauthenticated /_matrix/media/v3/download and thumbnail endpoints
	// serve local media, or "false" to freeze them as the spec recommends
	// since 1.12: media uploaded while frozen is only served by the
	// authenticated /_matrix/client/v1/media endpoints.
	LegacyUnauthenticatedDownload string `yaml:"legacy_unauthenticated_download"`
	// URLPreview is "on" to answer GET /media/preview_url (the server then
	// fetches URLs clients name, through an SSRF guard), "off" otherwise.
	URLPreview string `yaml:"url_preview"`
	// URLPreviewAllowPrivate is "true" to let previews reach loopback,
	// private, link-local, CGNAT and multicast addresses.
	URLPreviewAllowPrivate string `yaml:"url_preview_allow_private"`
	// RemoteCacheMaxBytes bounds the media of other servers kept in the
	// database after a download, in bytes; 0 keeps none.
	RemoteCacheMaxBytes string `yaml:"remote_cache_max_bytes"`
}

// DefaultServerName is the name a new database takes when server_name is
// not configured.
const DefaultServerName = "localhost"

// ConfigKeys lists every key with a pointer to its field, in YAML dotted
// form ("database.state_file"). Flags and environment variables are made
// from it.
func (c *Config) ConfigKeys() []ConfigKey {
	return append([]ConfigKey{
		{"server_name", &c.ServerName, "the server's name, the part after ':' in user IDs (fixed at creation; empty: the database's, or " + DefaultServerName + " for a new one)"},
		{"listen", &c.Listen, "address to listen on for HTTP"},
		{"data_dir", &c.DataDir, "folder holding the database"},
		{"registration", &c.Registration, "who may register: closed, token or open"},
		{"rate_limits", &c.RateLimits, "rate limiting: on or off"},
		{"trusted_proxies", (*string)(&c.TrustedProxies), "reverse proxies (CIDRs, comma-separated) whose X-Forwarded-For is believed"},
		{"public_base_url", &c.PublicBaseURL, "public URL of the client-server API, for .well-known (empty: from each request)"},
		{"log_level", &c.LogLevel, "debug, info, warn or error"},
		{"database.state_file", &c.Database.StateFile, "separate file for state groups (empty: same file)"},
		{"database.synchronous", &c.Database.Synchronous, "normal or full"},
		{"media.max_upload_bytes", &c.Media.MaxUploadBytes, "largest upload accepted, in bytes"},
		{"media.remote_cache_max_bytes", &c.Media.RemoteCacheMaxBytes, "media of other servers kept in the database, in bytes (least recently used evicted; 0: none)"},
		{"media.legacy_unauthenticated_download", &c.Media.LegacyUnauthenticatedDownload,
			"true: the deprecated unauthenticated media endpoints serve local media; false: frozen"},
		{"media.url_preview", &c.Media.URLPreview, "on: URL previews (the server fetches URLs clients name); off"},
		{"media.url_preview_allow_private", &c.Media.URLPreviewAllowPrivate,
			"true: URL previews may reach loopback, private, link-local, CGNAT and multicast addresses"},
		{"limits.max_create_room_invites", &c.Limits.MaxCreateRoomInvites, "most users one createRoom may invite"},
		{"federation.listen", &c.Federation.Listen, "address of the federation listener (HTTPS); empty: no inbound federation"},
		{"federation.tls_cert_file", &c.Federation.TLSCertFile, "PEM certificate (chain) of the federation listener"},
		{"federation.tls_key_file", &c.Federation.TLSKeyFile, "PEM private key of the federation listener"},
		{"federation.tls", &c.Federation.TLS, "on: the federation listener serves HTTPS; off: plain HTTP behind a TLS proxy"},
		{"federation.ca_file", &c.Federation.CAFile, "extra PEM roots trusted for outbound federation requests"},
		{"federation.insecure_skip_verify", &c.Federation.InsecureSkipVerify, "true: skip certificate checks outbound (test harnesses only)"},
		{"federation.allow_private_addresses", &c.Federation.AllowPrivateAddresses,
			"true: outbound federation may reach loopback, private, link-local, CGNAT and multicast addresses"},
		{"federation.resolve", &c.Federation.Resolve, "name=host:port pairs, comma separated, used before server discovery"},
		{"relay.url", &c.Relay.URL, "the relay's wss://…/_hearth/relay/v1/connect URL (empty: no relay)"},
		{"relay.token", &c.Relay.Token, "enrollment token from `hearth relay node add` (first connection only)"},
		{"relay.outbound", &c.Relay.Outbound, "on: outbound federation goes through the relay too; off: directly"},
		{"relay.name", &c.Relay.Name, "NAME.RELAYDOMAIN when server_name delegates to it by .well-known (empty: server_name)"},
		{"app_services", (*string)(&c.AppServices), "application service registration files (YAML), comma separated"},
		{"modules", (*string)(&c.ModulePaths), "WebAssembly modules (.wasm files, comma separated) loaded without config, after those of modules:"},
		{"federation.trusted_key_servers", &c.Federation.TrustedKeyServers, "notary server names, comma separated, asked for keys"},
		{"federation.well_known_server", &c.Federation.WellKnownServer,
			"host[:port] the client listener's /.well-known/matrix/server delegates federation to (empty: relay.name, or the public host with federation.listen's port when that differs from listen)"},
		{"federation.min_backoff", &c.Federation.MinBackoff, "wait before retrying a destination after its first failure (doubled after each further one)"},
		{"federation.max_backoff", &c.Federation.MaxBackoff, "longest wait between retries of a failing destination"},
		{"federation.catch_up_after", &c.Federation.CatchUpAfter,
			"how long a destination fails before only the newest event of each room is kept for it"},
	}, append(append(c.HTTP.keys(), c.operatorKeys()...), append(c.StateCompression.keys(), c.Memory.keys()...)...)...)
}

// ConfigKey is one setting.
type ConfigKey struct {
	Name  string
	Value *string
	Usage string
}

// Flag is the command-line flag of the key: --server-name, --database-state-file.
func (k ConfigKey) Flag() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(k.Name)
}

// Env is the environment variable of the key: HEARTH_DATABASE_STATE_FILE.
func (k ConfigKey) Env() string {
	return "HEARTH_" + strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_"))
}

// LoadEnv applies HEARTH_<KEY> variables found by lookup (os.LookupEnv).
func (c *Config) LoadEnv(lookup func(string) (string, bool)) {
	for _, k := range c.ConfigKeys() {
		if v, ok := lookup(k.Env()); ok {
			*k.Value = v
		}
	}
}

// Validate checks values that have a fixed set of choices.
func (c *Config) Validate() error {
	check := func(key, v string, allowed ...string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("config: %s is %q; it must be one of %s", key, v, strings.Join(allowed, ", "))
	}
	if err := check("registration", c.Registration, "closed", "token", "open"); err != nil {
		return err
	}
	if err := check("rate_limits", c.RateLimits, "on", "off"); err != nil {
		return err
	}
	if err := check("log_level", c.LogLevel, "debug", "info", "warn", "error"); err != nil {
		return err
	}
	if err := check("database.synchronous", c.Database.Synchronous, "normal", "full"); err != nil {
		return err
	}
	if err := check("media.legacy_unauthenticated_download", c.Media.LegacyUnauthenticatedDownload, "true", "false"); err != nil {
		return err
	}
	if err := check("media.url_preview", c.Media.URLPreview, "on", "off"); err != nil {
		return err
	}
	if err := check("media.url_preview_allow_private", c.Media.URLPreviewAllowPrivate, "true", "false"); err != nil {
		return err
	}
	if n, err := strconv.ParseInt(c.Media.RemoteCacheMaxBytes, 10, 64); err != nil || n < 0 {
		return fmt.Errorf("config: media.remote_cache_max_bytes is %q; it must be a number of bytes, 0 or more", c.Media.RemoteCacheMaxBytes)
	}
	if n, err := strconv.ParseInt(c.Media.MaxUploadBytes, 10, 64); err != nil || n <= 0 {
		return fmt.Errorf("config: media.max_upload_bytes is %q; it must be a positive number of bytes", c.Media.MaxUploadBytes)
	}
	if _, err := c.TrustedProxies.Prefixes(); err != nil {
		return fmt.Errorf("config: trusted_proxies: %w", err)
	}
	if n, err := strconv.Atoi(c.Limits.MaxCreateRoomInvites); err != nil || n <= 0 {
		return fmt.Errorf("config: limits.max_create_room_invites is %q; it must be a positive number", c.Limits.MaxCreateRoomInvites)
	}
	if err := c.Federation.validate(check); err != nil {
		return err
	}
	if err := c.validateOperator(); err != nil {
		return err
	}
	if _, err := c.ModuleSpecs(); err != nil {
		return err
	}
	if err := c.StateCompression.validate(); err != nil {
		return err
	}
	if err := c.Memory.validate(); err != nil {
		return err
	}
	if err := check("relay.outbound", c.Relay.Outbound, "on", "off"); err != nil {
		return err
	}
	if u := c.Relay.URL; u != "" && !strings.HasPrefix(u, "wss://") && !strings.HasPrefix(u, "ws://") {
		return fmt.Errorf("config: relay.url is %q; it must be a wss:// URL", u)
	}
	if _, err := c.HTTP.Limits(); err != nil {
		return err
	}
	if c.DataDir == "" {
		return fmt.Errorf("config: data_dir is empty")
	}
	return nil
}

// RemoteMediaCacheMaxBytes is media.remote_cache_max_bytes as a number (0
// if it does not parse; Validate refuses that).
func (c *Config) RemoteMediaCacheMaxBytes() int64 {
	n, _ := strconv.ParseInt(c.Media.RemoteCacheMaxBytes, 10, 64)
	return n
}

// MaxUploadBytes is media.max_upload_bytes as a number (0 if it does not
// parse; Validate refuses that).
func (c *Config) MaxUploadBytes() int64 {
	n, _ := strconv.ParseInt(c.Media.MaxUploadBytes, 10, 64)
	return n
}

// MaxCreateRoomInvites is limits.max_create_room_invites as a number (0 if
// it does not parse; Validate refuses that).
func (c *Config) MaxCreateRoomInvites() int {
	n, _ := strconv.Atoi(c.Limits.MaxCreateRoomInvites)
	return n
}

// LegacyMediaDownload says whether media.legacy_unauthenticated_download
// is "true".
func (c *Config) LegacyMediaDownload() bool { return c.Media.LegacyUnauthenticatedDownload == "true" }

// URLPreview says whether media.url_preview is on.
func (c *Config) URLPreview() bool { return c.Media.URLPreview == "on" }

// DatabasePath is the main database file.
func (c *Config) DatabasePath() string { return filepath.Join(c.DataDir, "hearth.db") }

// StatePath is the state database file, or "" when it shares the main file.
func (c *Config) StatePath() string {
	if c.Database.StateFile == "" || filepath.IsAbs(c.Database.StateFile) {
		return c.Database.StateFile
	}
	return filepath.Join(c.DataDir, c.Database.StateFile)
}

func (f *FederationConfig) validate(check func(key, v string, allowed ...string) error) error {
	if err := check("federation.tls", f.TLS, "on", "off"); err != nil {
		return err
	}
	if err := check("federation.insecure_skip_verify", f.InsecureSkipVerify, "true", "false"); err != nil {
		return err
	}
	if err := check("federation.allow_private_addresses", f.AllowPrivateAddresses, "true", "false"); err != nil {
		return err
	}
	if f.Listen != "" && f.TLS == "on" && (f.TLSCertFile == "" || f.TLSKeyFile == "") {
		return fmt.Errorf("config: federation.listen is set with federation.tls on, so federation.tls_cert_file and federation.tls_key_file are required")
	}
	if _, err := f.ResolveMap(); err != nil {
		return err
	}
	if _, err := f.Backoff(); err != nil {
		return err
	}
	if f.WellKnownServer != "" {
		if _, err := id.ParseServerName(f.WellKnownServer); err != nil {
			return fmt.Errorf("config: federation.well_known_server %q is not a server name (host or host:port)", f.WellKnownServer)
		}
	}
	for _, s := range f.KeyServers() {
		if _, err := id.ParseServerName(s); err != nil {
			return fmt.Errorf("config: federation.trusted_key_servers: %q is not a server name", s)
		}
	}
	return nil
}

// ResolveMap parses federation.resolve ("name=host:port,...") into server
// name → address.
func (f *FederationConfig) ResolveMap() (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(f.Resolve, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, addr, ok := strings.Cut(pair, "=")
		name, addr = strings.TrimSpace(name), strings.TrimSpace(addr)
		if !ok || name == "" {
			return nil, fmt.Errorf("config: federation.resolve: %q is not name=host:port", pair)
		}
		if _, err := id.ParseServerName(name); err != nil {
			return nil, fmt.Errorf("config: federation.resolve: %q is not a server name", name)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("config: federation.resolve: %q is not host:port", addr)
		}
		out[name] = addr
	}
	return out, nil
}

// KeyServers lists federation.trusted_key_servers.
func (f *FederationConfig) KeyServers() []string {
	var out []string
	for _, s := range strings.Split(f.TrustedKeyServers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// PathList is a list of file paths: a YAML list, or one string of
// comma-separated paths (as a flag or an environment variable gives it).
type PathList string

// Paths lists the paths.
func (l PathList) Paths() []string {
	var out []string
	for _, p := range strings.Split(string(l), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// CIDRList is a list of address ranges in CIDR notation: a YAML list, or
// one string of comma-separated ranges (as a flag or an environment
// variable gives it). A bare address is a range of one.
type CIDRList string

// Prefixes parses the list.
func (l CIDRList) Prefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(string(l), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			a, aerr := netip.ParseAddr(item)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not an address range (CIDR) nor an address", item)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
