package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/matrixhttp"
)

// maxNotaryServers bounds the servers one notary query may ask about, so a
// query cannot make this server fetch from many others at once.
const maxNotaryServers = 50

// maxNotaryBody bounds the body of POST /_matrix/key/v2/query.
const maxNotaryBody = 64 * 1024

// postQuery answers POST /_matrix/key/v2/query (server-server API,
// "Querying Keys Through Another Server").
func (k *KeyServer) postQuery(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ServerKeys map[string]map[string]struct {
			MinimumValidUntilTS int64 `json:"minimum_valid_until_ts"`
		} `json:"server_keys"`
	}
	if err := matrixhttp.ReadJSONLimit(r, &body, maxNotaryBody); err != nil {
		matrixhttp.WriteError(w, r, err)
		return
	}
	if body.ServerKeys == nil {
		matrixhttp.WriteError(w, r, core.ErrBadJSON.WithMessage("server_keys is required"))
		return
	}
	if len(body.ServerKeys) > maxNotaryServers {
		matrixhttp.WriteError(w, r, core.ErrLimitExceeded.WithMessage("at most %d servers per query", maxNotaryServers).WithStatus(400))
		return
	}
	out := []json.RawMessage{}
	for server, keys := range body.ServerKeys {
		var minValid int64
		for _, c := range keys {
			minValid = max(minValid, c.MinimumValidUntilTS)
		}
		if b, ok := k.notarise(r.Context(), server, minValid); ok {
			out = append(out, b)
		}
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"server_keys": out})
}

// getQuery answers the GET form for one server.
func (k *KeyServer) getQuery(w http.ResponseWriter, r *http.Request) {
	var minValid int64
	if v := r.URL.Query().Get("minimum_valid_until_ts"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			matrixhttp.WriteError(w, r, core.ErrInvalidParam.WithMessage("minimum_valid_until_ts is not a number"))
			return
		}
		minValid = n
	}
	out := []json.RawMessage{}
	if b, ok := k.notarise(r.Context(), r.PathValue("serverName"), minValid); ok {
		out = append(out, b)
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"server_keys": out})
}

// notarise returns server's key response signed by this server too, from
// the cache, or fetched from server itself when the cache has none valid
// until minValid (or now, when minValid is 0). ok is false when there is
// nothing to give.
func (k *KeyServer) notarise(ctx context.Context, server string, minValid int64) ([]byte, bool) {
	if server == k.opts.ServerName {
		b, err := SignedServerKeys(k.opts.ServerName, k.opts.Key, k.opts.Now())
		return b, err == nil
	}
	if k.opts.Store == nil || k.opts.Ring == nil {
		return nil, false
	}
	if _, err := id.ParseServerName(server); err != nil {
		return nil, false
	}
	raw, until, err := k.opts.Store.RemoteServerKeysJSON(ctx, server)
	want := max(minValid, k.opts.Now().UnixMilli())
	if err != nil || until < want {
		if ferr := k.opts.Ring.fetchDirect(ctx, server); ferr == nil {
			raw, _, err = k.opts.Store.RemoteServerKeysJSON(ctx, server)
		}
	}
	// A cached response that is too old is still served: the asker judges
	// it ("Notary servers can return keys for servers that are offline ...
	// by using cached responses").
	if err != nil {
		if !errors.Is(err, core.ErrKeyNotFound) {
			k.opts.Ring.log.Warn("federation: notary read", "server", server, "err", err)
		}
		return nil, false
	}
	signed, err := signing.SignJSON(raw, k.opts.ServerName, k.opts.Key.ID, k.opts.Key.Private)
	if err != nil {
		return nil, false
	}
	return signed, true
}
