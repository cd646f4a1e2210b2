package federation

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/signing"
)

// maxKeyValidity caps a fetched key's valid_until_ts: room versions 5 and
// later "MUST use the lesser of valid_until_ts and 7 days into the future".
const maxKeyValidity = 7 * 24 * time.Hour

// refetchBackoff is how long after a fetch that did not yield a key the
// ring waits before asking the network for that server again, so a flood
// of requests signed with an unknown key does not become a flood of
// fetches.
const refetchBackoff = time.Minute

// maxMemKeys bounds the ring's in-memory copy of remote keys; past it, an
// arbitrary entry makes room (the database still has every key).
const maxMemKeys = 4096

// KeyRing finds other servers' keys: from the cache in the database, else
// from the server itself (GET /_matrix/key/v2/server), else from the
// trusted notaries (POST /_matrix/key/v2/query). It implements
// core.KeyRing.
type KeyRing struct {
	serverName string
	key        signing.Key
	store      core.ServerKeyStore
	client     *Client
	notaries   []string
	now        func() time.Time
	log        *slog.Logger

	mu      sync.Mutex
	flights map[string]*keyFlight // by server: one fetch at a time
	tried   map[string]time.Time  // server → last fetch

	// mem holds keys read from the store, so that checking the signatures
	// of a busy server does not read its key from the database each time.
	// An entry is dropped when a fetch stores that server's keys again.
	memMu sync.RWMutex
	mem   map[memKeyID]core.RemoteServerKey
}

// memKeyID names one key of one server in KeyRing.mem.
type memKeyID struct{ server, keyID string }

type keyFlight struct {
	done chan struct{}
}

var _ core.KeyRing = (*KeyRing)(nil)

// KeyRingOptions configure a KeyRing.
type KeyRingOptions struct {
	ServerName string
	Key        signing.Key
	Store      core.ServerKeyStore
	Client     *Client
	Notaries   []string
	Now        func() time.Time
	Logger     *slog.Logger
}

// NewKeyRing returns a key ring.
func NewKeyRing(o KeyRingOptions) *KeyRing {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &KeyRing{serverName: o.ServerName, key: o.Key, store: o.Store, client: o.Client, notaries: o.Notaries,
		now: o.Now, log: o.Logger, flights: map[string]*keyFlight{}, tried: map[string]time.Time{},
		mem: map[memKeyID]core.RemoteServerKey{}}
}

// VerifyKey implements core.KeyRing.
func (k *KeyRing) VerifyKey(ctx context.Context, server, keyID string, atTS int64) (ed25519.PublicKey, error) {
	if server == k.serverName {
		if keyID == k.key.ID {
			return k.key.Public(), nil
		}
		return nil, fmt.Errorf("federation: %s of %s: %w", keyID, server, core.ErrKeyNotFound)
	}
	if pub, err := k.cached(ctx, server, keyID, atTS); err == nil || !errors.Is(err, core.ErrKeyNotFound) {
		return pub, err
	}
	if err := k.fetch(ctx, server, keyID, atTS); err != nil && ctx.Err() != nil {
		return nil, err
	}
	return k.cached(ctx, server, keyID, atTS)
}

// cached returns the stored key if it was valid at atTS, from memory when
// the ring has read it before, else from the store.
func (k *KeyRing) cached(ctx context.Context, server, keyID string, atTS int64) (ed25519.PublicKey, error) {
	id := memKeyID{server, keyID}
	k.memMu.RLock()
	rk, ok := k.mem[id]
	k.memMu.RUnlock()
	if ok && validAt(rk, atTS) {
		return rk.Key, nil
	}
	// Not in memory, or not valid then by the copy in memory: the store
	// may have a newer answer (another writer, or one not yet read).
	rk, err := k.store.RemoteServerKey(ctx, server, keyID)
	if err != nil {
		return nil, err
	}
	k.remember(id, rk)
	if !validAt(rk, atTS) {
		return nil, fmt.Errorf("federation: %s of %s is not valid at %d: %w", keyID, server, atTS, core.ErrKeyNotFound)
	}
	return rk.Key, nil
}

// remember keeps rk in memory, making room when the map is full.
func (k *KeyRing) remember(id memKeyID, rk core.RemoteServerKey) {
	k.memMu.Lock()
	defer k.memMu.Unlock()
	if _, ok := k.mem[id]; !ok && len(k.mem) >= maxMemKeys {
		for old := range k.mem {
			delete(k.mem, old)
			break
		}
	}
	k.mem[id] = rk
}

// forget drops server's keys from memory, after a fetch stored them anew.
func (k *KeyRing) forget(server string) {
	k.memMu.Lock()
	defer k.memMu.Unlock()
	for id := range k.mem {
		if id.server == server {
			delete(k.mem, id)
		}
	}
}

func validAt(k core.RemoteServerKey, atTS int64) bool {
	switch {
	case atTS == 0:
		return true
	case k.ExpiredTS > 0:
		return atTS < k.ExpiredTS
	default:
		return atTS <= k.ValidUntilTS
	}
}

// fetch asks the network for server's keys, one fetch per server at a time
// and not again within refetchBackoff when a fetch has just been made.
func (k *KeyRing) fetch(ctx context.Context, server, keyID string, atTS int64) error {
	k.mu.Lock()
	if f, ok := k.flights[server]; ok {
		k.mu.Unlock()
		select {
		case <-f.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if last, ok := k.tried[server]; ok && k.now().Sub(last) < refetchBackoff {
		k.mu.Unlock()
		return fmt.Errorf("federation: keys of %s fetched %s ago", server, k.now().Sub(last).Round(time.Second))
	}
	f := &keyFlight{done: make(chan struct{})}
	k.flights[server] = f
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.flights, server)
		if len(k.tried) > 10_000 {
			clear(k.tried)
		}
		k.tried[server] = k.now()
		k.mu.Unlock()
		close(f.done)
	}()
	err := k.fetchDirect(ctx, server)
	if err == nil {
		if _, cerr := k.cached(ctx, server, keyID, atTS); cerr == nil {
			return nil
		}
	} else {
		k.log.Debug("federation: fetching keys directly failed", "server", server, "err", err)
	}
	for _, notary := range k.notaries {
		if notary == server {
			continue
		}
		nerr := k.fetchFromNotary(ctx, notary, server, keyID, atTS)
		if nerr == nil {
			if _, cerr := k.cached(ctx, server, keyID, atTS); cerr == nil {
				return nil
			}
		} else {
			k.log.Debug("federation: notary query failed", "notary", notary, "server", server, "err", nerr)
			err = nerr
		}
	}
	return err
}

// fetchDirect gets GET /_matrix/key/v2/server from server itself.
func (k *KeyRing) fetchDirect(ctx context.Context, server string) error {
	var raw json.RawMessage
	if err := k.client.Request(ctx, server, "GET", "/_matrix/key/v2/server", nil, &raw); err != nil {
		return err
	}
	return k.storeResponse(ctx, server, raw)
}

// fetchFromNotary asks notary for server's keys and checks the notary's
// signature as well as the server's own.
func (k *KeyRing) fetchFromNotary(ctx context.Context, notary, server, keyID string, atTS int64) error {
	criteria := map[string]any{}
	if atTS > 0 {
		criteria["minimum_valid_until_ts"] = atTS
	}
	body := map[string]any{"server_keys": map[string]any{server: map[string]any{keyID: criteria}}}
	var resp struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if err := k.client.Request(ctx, notary, "POST", "/_matrix/key/v2/query", body, &resp); err != nil {
		return err
	}
	var lastErr error = fmt.Errorf("federation: notary %s has no keys of %s", notary, server)
	for _, raw := range resp.ServerKeys {
		var head struct {
			ServerName string                       `json:"server_name"`
			Signatures map[string]map[string]string `json:"signatures"`
		}
		if json.Unmarshal(raw, &head) != nil || head.ServerName != server {
			continue
		}
		// The notary's signature, by a key of the notary's fetched
		// directly (never through another notary).
		verified := false
		for nkID := range head.Signatures[notary] {
			pub, err := k.notaryKey(ctx, notary, nkID)
			if err != nil {
				continue
			}
			if err := signing.VerifyJSON(raw, notary, nkID, pub); err != nil {
				lastErr = err
				verified = false
				break
			}
			verified = true
		}
		if !verified {
			lastErr = fmt.Errorf("federation: notary %s did not sign the keys of %s verifiably: %w", notary, server, lastErr)
			continue
		}
		if err := k.storeResponse(ctx, server, raw); err != nil {
			lastErr = err
			continue
		}
		return nil
	}
	return lastErr
}

// notaryKey returns the notary's key from the cache or from the notary
// itself.
func (k *KeyRing) notaryKey(ctx context.Context, notary, keyID string) (ed25519.PublicKey, error) {
	now := k.now().UnixMilli()
	if pub, err := k.cached(ctx, notary, keyID, now); err == nil {
		return pub, nil
	}
	if err := k.fetchDirect(ctx, notary); err != nil {
		return nil, err
	}
	return k.cached(ctx, notary, keyID, now)
}

// keyResponse is the body of GET /_matrix/key/v2/server.
type keyResponse struct {
	ServerName    string                       `json:"server_name"`
	VerifyKeys    map[string]VerifyKey         `json:"verify_keys"`
	OldVerifyKeys map[string]OldVerifyKey      `json:"old_verify_keys"`
	ValidUntilTS  int64                        `json:"valid_until_ts"`
	Signatures    map[string]map[string]string `json:"signatures"`
}

// storeResponse verifies a server's key response (its server_name, and a
// valid self-signature by each of its verify_keys that signed it, at least
// one) and stores it.
func (k *KeyRing) storeResponse(ctx context.Context, server string, raw []byte) error {
	keys, until, err := ParseServerKeys(raw, server, k.now())
	if err != nil {
		return err
	}
	err = k.store.StoreRemoteServerKeys(ctx, server, raw, until, keys)
	k.forget(server)
	return err
}

// ParseServerKeys checks a key response of server as fetched at now and
// returns its keys, with valid_until_ts capped at now + 7 days: the
// response must name server, and be signed by its verify keys (every
// signature of server's by a key listed in verify_keys must verify, and
// there must be at least one).
func ParseServerKeys(raw []byte, server string, now time.Time) ([]core.RemoteServerKey, int64, error) {
	var r keyResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, 0, fmt.Errorf("federation: key response of %s: %w", server, err)
	}
	if r.ServerName != server {
		return nil, 0, fmt.Errorf("federation: key response for %q names %q", server, r.ServerName)
	}
	var keys []core.RemoteServerKey
	until := min(r.ValidUntilTS, now.Add(maxKeyValidity).UnixMilli())
	signed := 0
	for id, vk := range r.VerifyKeys {
		if signing.CheckKeyID(id) != nil {
			continue // other algorithms are not ours to judge
		}
		pub, err := signing.DecodePublicKey(vk.Key)
		if err != nil {
			return nil, 0, fmt.Errorf("federation: key response of %s: %s: %w", server, id, err)
		}
		if _, ok := r.Signatures[server][id]; ok {
			if err := signing.VerifyJSON(raw, server, id, pub); err != nil {
				return nil, 0, fmt.Errorf("federation: key response of %s: %w", server, err)
			}
			signed++
		}
		keys = append(keys, core.RemoteServerKey{ServerName: server, KeyID: id, Key: pub, ValidUntilTS: until})
	}
	if signed == 0 {
		return nil, 0, fmt.Errorf("federation: key response of %s is not signed by any of its verify keys: %w", server, signing.ErrMissingSignature)
	}
	for id, ok := range r.OldVerifyKeys {
		if signing.CheckKeyID(id) != nil {
			continue
		}
		if _, current := r.VerifyKeys[id]; current {
			continue
		}
		pub, err := signing.DecodePublicKey(ok.Key)
		if err != nil {
			return nil, 0, fmt.Errorf("federation: key response of %s: %s: %w", server, id, err)
		}
		keys = append(keys, core.RemoteServerKey{ServerName: server, KeyID: id, Key: pub, ExpiredTS: max(ok.ExpiredTS, 1)})
	}
	return keys, until, nil
}

// keyQueryPath is the GET form of a notary query for one server.
func keyQueryPath(server string) string {
	return "/_matrix/key/v2/query/" + url.PathEscape(server)
}
