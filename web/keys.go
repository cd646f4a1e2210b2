package web

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/id"
)

// registerKeyRoutes serves the end-to-end encryption key API: device,
// one-time and fallback keys, the device list changes, and cross-signing.
func (s *Server) registerKeyRoutes() {
	s.mux.HandleFunc("POST /_matrix/client/v3/keys/upload", s.authed(s.postKeysUpload))
	s.mux.HandleFunc("POST /_matrix/client/v3/keys/query", s.authed(s.postKeysQuery))
	s.mux.HandleFunc("POST /_matrix/client/v3/keys/claim", s.authed(s.postKeysClaim))
	s.mux.HandleFunc("GET /_matrix/client/v3/keys/changes", s.authed(s.getKeysChanges))
	s.mux.HandleFunc("POST /_matrix/client/v3/keys/device_signing/upload", s.authed(s.postDeviceSigningUpload))
	s.mux.HandleFunc("POST /_matrix/client/v3/keys/signatures/upload", s.authed(s.postSignaturesUpload))
}

// remoteFailure is what failures holds for a remote server when the
// server has no way to ask other servers.
var remoteFailure = map[string]any{
	"errcode": "M_UNAVAILABLE",
	"error":   "This server does not federate; remote keys cannot be fetched",
}

// RemoteKeys asks other servers for their users' keys (core.RemoteKeys).
type RemoteKeys interface {
	QueryKeys(ctx context.Context, server string, query map[string][]string) (core.RemoteKeysAnswer, error)
	ClaimKeys(ctx context.Context, server string, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error)
}

// remoteKeysTimeout is how long /keys/query and /keys/claim wait for other
// servers unless the request says (the spec's default: 10 seconds).
const remoteKeysTimeout = 10 * time.Second

// eachServer runs fn for every server concurrently, bounded by timeout
// (milliseconds; 0: the default), and records in failures those that
// failed. fn is called from several goroutines and must guard what it
// writes with mu.
func eachServer(ctx context.Context, servers []string, timeoutMS int, mu *sync.Mutex, failures map[string]any, fn func(ctx context.Context, server string) error) {
	timeout := remoteKeysTimeout
	if timeoutMS > 0 {
		timeout = min(time.Duration(timeoutMS)*time.Millisecond, time.Minute)
	}
	// The servers are asked at once, each from its own goroutine: those
	// read on their own, not in the request's read scope, which is not
	// held while they wait.
	if len(servers) > 0 {
		core.ReleaseReads(ctx)
		ctx = core.WithReadScope(ctx, nil)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, server := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx, server); err != nil {
				mu.Lock()
				failures[server] = core.FailureOf(err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// isLocalUser reports whether userID is a valid user ID of this server,
// and its server name.
func (s *Server) isLocalUser(userID string) (local bool, server string, ok bool) {
	u, err := id.ParseUserID(userID)
	if err != nil {
		return false, "", false
	}
	server = string(u.ServerName())
	return server == s.opts.ServerName, server, true
}

// deviceKeysBody is the device_keys object of /keys/upload (DeviceKeys in
// the spec), read to check its shape.
type deviceKeysBody struct {
	UserID     *string                      `json:"user_id"`
	DeviceID   *string                      `json:"device_id"`
	Algorithms []string                     `json:"algorithms"`
	Keys       map[string]string            `json:"keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// checkDeviceKeys validates device_keys for the session's device: the
// required members with their types, and the user and device IDs, which
// must be the session's ("Must match the user ID used when logging in").
func checkDeviceKeys(raw json.RawMessage, sess *core.Session) error {
	var dk deviceKeysBody
	if err := json.Unmarshal(raw, &dk); err != nil {
		return core.ErrBadJSON.WithMessage("device_keys: %s", describeJSONError(err))
	}
	switch {
	case dk.UserID == nil || dk.DeviceID == nil || dk.Algorithms == nil || dk.Keys == nil || dk.Signatures == nil:
		return core.ErrBadJSON.WithMessage("device_keys needs user_id, device_id, algorithms, keys and signatures")
	case *dk.UserID != sess.UserID:
		return core.ErrInvalidParam.WithMessage("device_keys.user_id %q is not the logged-in user %q", *dk.UserID, sess.UserID)
	case *dk.DeviceID != sess.DeviceID:
		return core.ErrInvalidParam.WithMessage("device_keys.device_id %q is not the logged-in device %q", *dk.DeviceID, sess.DeviceID)
	}
	if _, ok := dk.Keys["ed25519:"+sess.DeviceID]; !ok {
		return core.ErrInvalidParam.WithMessage("device_keys.keys has no ed25519:%s key", sess.DeviceID)
	}
	return nil
}

// checkKeyObjects checks that each one-time or fallback key is a string or
// a key object (KeyObject: key and signatures).
func checkKeyObjects(field string, keys map[string]json.RawMessage) error {
	for name, raw := range keys {
		if len(raw) > 0 && raw[0] == '"' {
			continue // a plain key, as for the curve25519 algorithm
		}
		var obj struct {
			Key        *string                      `json:"key"`
			Signatures map[string]map[string]string `json:"signatures"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil || obj.Key == nil || obj.Signatures == nil {
			return core.ErrBadJSON.WithMessage("%s.%s must be a string or an object with key and signatures", field, name)
		}
	}
	return nil
}

// withSignedCurveCount adds signed_curve25519: 0 when absent, as Synapse
// does: some Olm clients only upload keys when they see the count.
func withSignedCurveCount(counts map[string]int) map[string]int {
	if counts == nil {
		counts = map[string]int{}
	}
	if _, ok := counts["signed_curve25519"]; !ok {
		counts["signed_curve25519"] = 0
	}
	return counts
}

// postKeysUpload is POST /keys/upload.
func (s *Server) postKeysUpload(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req struct {
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if string(req.DeviceKeys) == "null" {
		req.DeviceKeys = nil
	}
	if req.DeviceKeys != nil {
		if err := checkDeviceKeys(req.DeviceKeys, sess); err != nil {
			return err
		}
	}
	if err := checkKeyObjects("one_time_keys", req.OneTimeKeys); err != nil {
		return err
	}
	if err := checkKeyObjects("fallback_keys", req.FallbackKeys); err != nil {
		return err
	}
	counts, err := s.opts.DeviceKeys.UploadKeys(r.Context(), sess.UserID, sess.DeviceID, core.KeyUpload{
		DeviceKeys:   req.DeviceKeys,
		OneTimeKeys:  req.OneTimeKeys,
		FallbackKeys: req.FallbackKeys,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"one_time_key_counts": withSignedCurveCount(counts)})
	return nil
}

// postKeysQuery is POST /keys/query.
func (s *Server) postKeysQuery(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
		Timeout    int                 `json:"timeout"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	failures := map[string]any{}
	local := map[string][]string{}
	remote := map[string]map[string][]string{}
	var localUsers []string
	for userID, devs := range req.DeviceKeys {
		isLocal, server, ok := s.isLocalUser(userID)
		switch {
		case !ok:
			// Not a user ID: nothing to report, as for an unknown user.
		case isLocal:
			local[userID] = devs
			localUsers = append(localUsers, userID)
		case s.opts.RemoteKeys == nil:
			failures[server] = remoteFailure
		default:
			if remote[server] == nil {
				remote[server] = map[string][]string{}
			}
			remote[server][userID] = devs
		}
	}
	slices.Sort(localUsers)
	ctx := r.Context()
	devKeys, err := s.opts.DeviceKeys.QueryDeviceKeys(ctx, sess.UserID, local)
	if err != nil {
		return err
	}
	cross, err := s.opts.CrossSigning.CrossSigningKeys(ctx, sess.UserID, localUsers)
	if err != nil {
		return err
	}
	deviceKeys := map[string]map[string]json.RawMessage{}
	master := map[string]json.RawMessage{}
	selfSigning := map[string]json.RawMessage{}
	userSigning := map[string]json.RawMessage{}
	for _, u := range localUsers {
		deviceKeys[u] = devKeys[u]
		if deviceKeys[u] == nil {
			deviceKeys[u] = map[string]json.RawMessage{}
		}
		k, ok := cross[u]
		if !ok {
			continue
		}
		if k.Master != nil {
			master[u] = k.Master
		}
		if k.SelfSigning != nil {
			selfSigning[u] = k.SelfSigning
		}
		if k.UserSigning != nil && u == sess.UserID {
			userSigning[u] = k.UserSigning
		}
	}
	var mu sync.Mutex
	eachServer(ctx, slices.Collect(maps.Keys(remote)), req.Timeout, &mu, failures, func(ctx context.Context, server string) error {
		a, err := s.opts.RemoteKeys.QueryKeys(ctx, server, remote[server])
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		maps.Copy(deviceKeys, a.DeviceKeys)
		maps.Copy(master, a.MasterKeys)
		maps.Copy(selfSigning, a.SelfSigningKeys)
		return nil
	})
	writeJSON(w, http.StatusOK, map[string]any{
		"device_keys":       deviceKeys,
		"failures":          failures,
		"master_keys":       master,
		"self_signing_keys": selfSigning,
		"user_signing_keys": userSigning,
	})
	return nil
}

// postKeysClaim is POST /keys/claim.
func (s *Server) postKeysClaim(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
		Timeout     int                          `json:"timeout"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	failures := map[string]any{}
	local := map[string]map[string]string{}
	remote := map[string]map[string]map[string]string{}
	for userID, devs := range req.OneTimeKeys {
		isLocal, server, ok := s.isLocalUser(userID)
		switch {
		case !ok:
		case isLocal:
			local[userID] = devs
		case s.opts.RemoteKeys == nil:
			failures[server] = remoteFailure
		default:
			if remote[server] == nil {
				remote[server] = map[string]map[string]string{}
			}
			remote[server][userID] = devs
		}
	}
	claimed, err := s.opts.DeviceKeys.ClaimKeys(r.Context(), local)
	if err != nil {
		return err
	}
	if claimed == nil {
		claimed = map[string]map[string]map[string]json.RawMessage{}
	}
	var mu sync.Mutex
	eachServer(r.Context(), slices.Collect(maps.Keys(remote)), req.Timeout, &mu, failures, func(ctx context.Context, server string) error {
		got, err := s.opts.RemoteKeys.ClaimKeys(ctx, server, remote[server])
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		maps.Copy(claimed, got)
		return nil
	})
	writeJSON(w, http.StatusOK, map[string]any{"one_time_keys": claimed, "failures": failures})
	return nil
}

// deviceListPos reads the device list position out of a /sync token.
func (s *Server) deviceListPos(token string) (int64, error) {
	t, err := clientsync.ParseToken(token)
	return t.DeviceLists, err
}

// getKeysChanges is GET /keys/changes.
func (s *Server) getKeysChanges(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	q := r.URL.Query()
	if !q.Has("from") || !q.Has("to") {
		return core.ErrMissingParam.WithMessage("from and to are required")
	}
	from, err := s.deviceListPos(q.Get("from"))
	if err != nil {
		return err
	}
	to, err := s.deviceListPos(q.Get("to"))
	if err != nil {
		return err
	}
	lists, err := s.opts.DeviceLists.DeviceListChanges(r.Context(), sess.UserID, from, to)
	if err != nil {
		return err
	}
	changed, left := lists.Changed, lists.Left
	if changed == nil {
		changed = []string{}
	}
	if left == nil {
		left = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changed": changed, "left": left})
	return nil
}
