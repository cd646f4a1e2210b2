package core

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
)

// RemoteKeys asks other servers for their users' end-to-end encryption
// keys (server-server API, "End-to-End Encryption"): the client API's
// /keys/query and /keys/claim for remote users.
type RemoteKeys struct {
	Client FederationClient
	// Cache, when set, keeps remote users' keys between queries; a user
	// asked for all devices is answered from it while it holds them.
	Cache RemoteDeviceKeysCache
}

// RemoteUserKeys is what a server answered about one of its users: the
// keys of all their devices and their cross-signing keys (nil when none).
type RemoteUserKeys struct {
	DeviceKeys     map[string]json.RawMessage `json:"device_keys"`
	MasterKey      json.RawMessage            `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage            `json:"self_signing_key,omitempty"`
}

// RemoteDeviceKeysCache keeps remote users' keys (Synapse's device list
// cache). The store drops a user's entry when an m.device_list_update or
// m.signing_key_update for them arrives, and keeps entries only for users
// who share a room with a local user, whose updates reach this server.
type RemoteDeviceKeysCache interface {
	// CachedRemoteKeys returns userID's keys if the cache holds them.
	CachedRemoteKeys(ctx context.Context, userID string) (RemoteUserKeys, bool, error)
	// StoreRemoteKeys caches userID's keys, as their server answered a
	// query for all their devices.
	StoreRemoteKeys(ctx context.Context, userID string, keys RemoteUserKeys) error
}

// RemoteKeysAnswer is a server's answer to a keys query, limited to its own
// users.
type RemoteKeysAnswer struct {
	DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
	MasterKeys      map[string]json.RawMessage            `json:"master_keys"`
	SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys"`
}

// ownUser reports whether userID is a user of server.
func ownUser(userID, server string) bool {
	return strings.HasPrefix(userID, "@") && strings.HasSuffix(userID, ":"+server)
}

// QueryKeys asks server for the device and cross-signing keys of its users
// in query (user ID → device IDs, empty for all), answering from the cache
// for the users it holds. Keys of users that are
// not server's, or whose user_id/device_id fields do not match where they
// are filed, are dropped.
func (k RemoteKeys) QueryKeys(ctx context.Context, server string, query map[string][]string) (RemoteKeysAnswer, error) {
	if k.Client == nil {
		return RemoteKeysAnswer{}, ErrUnavailable.WithMessage("this server has no federation client")
	}
	out := RemoteKeysAnswer{DeviceKeys: map[string]map[string]json.RawMessage{}, MasterKeys: map[string]json.RawMessage{}, SelfSigningKeys: map[string]json.RawMessage{}}
	ask := map[string][]string{}
	for userID, devices := range query {
		cached, ok := RemoteUserKeys{}, false
		if k.Cache != nil && ownUser(userID, server) {
			var err error
			if cached, ok, err = k.Cache.CachedRemoteKeys(ctx, userID); err != nil {
				ok = false
			}
		}
		if !ok {
			ask[userID] = devices
			continue
		}
		kept := map[string]json.RawMessage{}
		for deviceID, key := range cached.DeviceKeys {
			if len(devices) == 0 || slices.Contains(devices, deviceID) {
				kept[deviceID] = key
			}
		}
		out.DeviceKeys[userID] = kept
		if cached.MasterKey != nil {
			out.MasterKeys[userID] = cached.MasterKey
		}
		if cached.SelfSigningKey != nil {
			out.SelfSigningKeys[userID] = cached.SelfSigningKey
		}
	}
	if len(ask) == 0 {
		return out, nil
	}
	a, err := k.queryKeys(ctx, server, ask)
	if err != nil {
		return a, err
	}
	for userID, devices := range a.DeviceKeys {
		out.DeviceKeys[userID] = devices
		if k.Cache != nil && len(ask[userID]) == 0 {
			// A failure to cache only means the next query goes out too.
			_ = k.Cache.StoreRemoteKeys(ctx, userID, RemoteUserKeys{DeviceKeys: devices, MasterKey: a.MasterKeys[userID], SelfSigningKey: a.SelfSigningKeys[userID]})
		}
	}
	maps.Copy(out.MasterKeys, a.MasterKeys)
	maps.Copy(out.SelfSigningKeys, a.SelfSigningKeys)
	return out, nil
}

// queryKeys asks server, with nothing from the cache.
func (k RemoteKeys) queryKeys(ctx context.Context, server string, query map[string][]string) (RemoteKeysAnswer, error) {
	var a RemoteKeysAnswer
	if err := k.Client.Request(ctx, server, "POST", "/_matrix/federation/v1/user/keys/query", map[string]any{"device_keys": query}, &a); err != nil {
		return a, err
	}
	out := RemoteKeysAnswer{DeviceKeys: map[string]map[string]json.RawMessage{}, MasterKeys: map[string]json.RawMessage{}, SelfSigningKeys: map[string]json.RawMessage{}}
	for userID, devices := range a.DeviceKeys {
		if _, asked := query[userID]; !asked || !ownUser(userID, server) {
			continue
		}
		kept := map[string]json.RawMessage{}
		for deviceID, key := range devices {
			var head struct {
				UserID   string `json:"user_id"`
				DeviceID string `json:"device_id"`
			}
			if json.Unmarshal(key, &head) == nil && head.UserID == userID && head.DeviceID == deviceID {
				kept[deviceID] = key
			}
		}
		out.DeviceKeys[userID] = kept
	}
	for _, m := range []struct{ from, to map[string]json.RawMessage }{{a.MasterKeys, out.MasterKeys}, {a.SelfSigningKeys, out.SelfSigningKeys}} {
		for userID, key := range m.from {
			var head struct {
				UserID string `json:"user_id"`
			}
			if _, asked := query[userID]; asked && ownUser(userID, server) && json.Unmarshal(key, &head) == nil && head.UserID == userID {
				m.to[userID] = key
			}
		}
	}
	return out, nil
}

// ClaimKeys asks server for one-time keys of its users' devices (user ID →
// device ID → algorithm). Keys for users that are not server's are
// dropped.
func (k RemoteKeys) ClaimKeys(ctx context.Context, server string, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	if k.Client == nil {
		return nil, ErrUnavailable.WithMessage("this server has no federation client")
	}
	var a struct {
		OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
	}
	if err := k.Client.Request(ctx, server, "POST", "/_matrix/federation/v1/user/keys/claim", map[string]any{"one_time_keys": claims}, &a); err != nil {
		return nil, err
	}
	out := map[string]map[string]map[string]json.RawMessage{}
	for userID, devices := range a.OneTimeKeys {
		if _, asked := claims[userID]; asked && ownUser(userID, server) {
			out[userID] = devices
		}
	}
	return out, nil
}

// FailureOf is what a client's /keys/query and /keys/claim report in
// "failures" for a server that could not be asked.
func FailureOf(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) && e.ErrCode != "" {
		return map[string]any{"errcode": e.ErrCode, "error": e.Message}
	}
	return map[string]any{"errcode": ErrUnavailable.ErrCode, "error": "the server could not be reached"}
}
