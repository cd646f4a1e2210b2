package federation

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/matrixhttp"
)

// KeyValidity is how long a fetched copy of the server's keys stays valid
// (valid_until_ts = now + KeyValidity). Room versions 5 and later make
// other servers refetch keys at least weekly; a day keeps the published
// set fresh without many refetches.
const KeyValidity = 24 * time.Hour

// KeyServerOptions configure a KeyServer.
type KeyServerOptions struct {
	// ServerName is the local server's name.
	ServerName string
	// Key is the server's signing key, published and used to sign the
	// response.
	Key signing.Key
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Ring and Store make the server a notary (POST and GET
	// /_matrix/key/v2/query) for the keys it holds or can fetch; nil
	// answers only for the server itself.
	Ring  *KeyRing
	Store core.ServerKeyStore
}

// KeyServer answers GET /_matrix/key/v2/server (server-server API,
// "Publishing Keys"): the server's verify keys, self-signed, with their
// validity.
type KeyServer struct {
	opts KeyServerOptions
	mux  *http.ServeMux
}

// NewKeyServer returns the key server handler. Mount it at /_matrix/key/.
func NewKeyServer(o KeyServerOptions) *KeyServer {
	if o.Now == nil {
		o.Now = time.Now
	}
	k := &KeyServer{opts: o, mux: http.NewServeMux()}
	k.mux.HandleFunc("GET /_matrix/key/v2/server", k.getServerKeys)
	// The deprecated form with a key ID answers with all keys too.
	k.mux.HandleFunc("GET /_matrix/key/v2/server/{keyID}", k.getServerKeys)
	k.mux.HandleFunc("POST /_matrix/key/v2/query", k.postQuery)
	k.mux.HandleFunc("GET /_matrix/key/v2/query/{serverName}", k.getQuery)
	k.mux.HandleFunc("GET /_matrix/key/v2/query/{serverName}/{keyID}", k.getQuery)
	k.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		matrixhttp.WriteError(w, r, core.ErrUnrecognized)
	})
	return k
}

func (k *KeyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { k.mux.ServeHTTP(w, r) }

// VerifyKey is one published public key.
type VerifyKey struct {
	Key string `json:"key"`
}

// OldVerifyKey is a key the server no longer signs with.
type OldVerifyKey struct {
	Key       string `json:"key"`
	ExpiredTS int64  `json:"expired_ts"`
}

// ServerKeys is the body of GET /_matrix/key/v2/server, before signing.
type ServerKeys struct {
	ServerName    string                  `json:"server_name"`
	VerifyKeys    map[string]VerifyKey    `json:"verify_keys"`
	OldVerifyKeys map[string]OldVerifyKey `json:"old_verify_keys"`
	ValidUntilTS  int64                   `json:"valid_until_ts"`
}

// SignedServerKeys returns the server's keys as published at now: the
// verify key, valid for KeyValidity, signed by itself.
func SignedServerKeys(serverName string, key signing.Key, now time.Time) ([]byte, error) {
	body, err := json.Marshal(ServerKeys{
		ServerName:    serverName,
		VerifyKeys:    map[string]VerifyKey{key.ID: {Key: key.PublicBase64()}},
		OldVerifyKeys: map[string]OldVerifyKey{},
		ValidUntilTS:  now.Add(KeyValidity).UnixMilli(),
	})
	if err != nil {
		return nil, err
	}
	return signing.SignJSON(body, serverName, key.ID, key.Private)
}

func (k *KeyServer) getServerKeys(w http.ResponseWriter, r *http.Request) {
	body, err := SignedServerKeys(k.opts.ServerName, k.opts.Key, k.opts.Now())
	if err != nil {
		matrixhttp.WriteError(w, r, fmt.Errorf("signing the server keys: %w", err))
		return
	}
	matrixhttp.WriteRawJSON(w, http.StatusOK, body)
}
