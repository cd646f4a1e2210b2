package federation

import (
	"encoding/json"
	"net/http"
	"sort"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/matrixhttp"
)

// userDevice is one device of GET /user/devices.
type userDevice struct {
	DeviceID    string          `json:"device_id"`
	DisplayName string          `json:"device_display_name,omitempty"`
	Keys        json.RawMessage `json:"keys"`
}

// userDevices answers GET /_matrix/federation/v1/user/devices/{userId}: a
// local user's devices with their identity keys, cross-signing keys and
// the stream_id of the user's newest device change, which the prev_id of
// the user's next m.device_list_update names.
func (m *Messaging) userDevices(w http.ResponseWriter, r *http.Request, origin string) error {
	ctx := r.Context()
	userID := r.PathValue("userID")
	if err := m.localUser(ctx, userID); err != nil {
		return err
	}
	pos, err := m.opts.DeviceLists.DeviceListStreamID(ctx, userID)
	if err != nil {
		return err
	}
	devices, err := m.opts.Devices.Devices(ctx, userID)
	if err != nil {
		return err
	}
	keys, err := m.opts.DeviceKeys.QueryDeviceKeys(ctx, "", map[string][]string{userID: {}})
	if err != nil {
		return err
	}
	out := struct {
		UserID         string          `json:"user_id"`
		StreamID       int64           `json:"stream_id"`
		Devices        []userDevice    `json:"devices"`
		MasterKey      json.RawMessage `json:"master_key,omitempty"`
		SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
	}{UserID: userID, StreamID: pos, Devices: []userDevice{}}
	for _, d := range devices {
		k := keys[userID][d.DeviceID]
		if k == nil {
			continue // keys are required per device: one without has nothing to encrypt to
		}
		out.Devices = append(out.Devices, userDevice{DeviceID: d.DeviceID, DisplayName: d.DisplayName, Keys: k})
	}
	sort.Slice(out.Devices, func(i, j int) bool { return out.Devices[i].DeviceID < out.Devices[j].DeviceID })
	cs, err := m.opts.CrossSigning.CrossSigningKeys(ctx, "", []string{userID})
	if err != nil {
		return err
	}
	out.MasterKey, out.SelfSigningKey = cs[userID].Master, cs[userID].SelfSigning
	matrixhttp.WriteJSON(w, http.StatusOK, out)
	return nil
}

// maxKeyQueryUsers bounds the users of one keys query or claim.
const maxKeyQueryUsers = 1000

// keysQuery answers POST /user/keys/query for local users.
func (m *Messaging) keysQuery(w http.ResponseWriter, r *http.Request, origin string) error {
	var body struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := matrixhttp.ReadJSON(r, &body); err != nil {
		return err
	}
	if body.DeviceKeys == nil {
		return core.ErrBadJSON.WithMessage("device_keys is required")
	}
	if len(body.DeviceKeys) > maxKeyQueryUsers {
		return core.ErrBadJSON.WithMessage("at most %d users per query", maxKeyQueryUsers)
	}
	ctx := r.Context()
	query := map[string][]string{}
	var users []string
	for u, devs := range body.DeviceKeys {
		if m.isLocal(u) {
			query[u] = devs
			users = append(users, u)
		}
	}
	keys, err := m.opts.DeviceKeys.QueryDeviceKeys(ctx, "", query)
	if err != nil {
		return err
	}
	cs, err := m.opts.CrossSigning.CrossSigningKeys(ctx, "", users)
	if err != nil {
		return err
	}
	master, self := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for u, k := range cs {
		if k.Master != nil {
			master[u] = k.Master
		}
		if k.SelfSigning != nil {
			self[u] = k.SelfSigning
		}
	}
	if keys == nil {
		keys = map[string]map[string]json.RawMessage{}
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"device_keys": keys, "master_keys": master, "self_signing_keys": self})
	return nil
}

// keysClaim answers POST /user/keys/claim for local users' devices.
func (m *Messaging) keysClaim(w http.ResponseWriter, r *http.Request, origin string) error {
	var body struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := matrixhttp.ReadJSON(r, &body); err != nil {
		return err
	}
	if body.OneTimeKeys == nil {
		return core.ErrBadJSON.WithMessage("one_time_keys is required")
	}
	if len(body.OneTimeKeys) > maxKeyQueryUsers {
		return core.ErrBadJSON.WithMessage("at most %d users per claim", maxKeyQueryUsers)
	}
	claims := map[string]map[string]string{}
	for u, devs := range body.OneTimeKeys {
		if m.isLocal(u) {
			claims[u] = devs
		}
	}
	keys, err := m.opts.DeviceKeys.ClaimKeys(r.Context(), claims)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = map[string]map[string]map[string]json.RawMessage{}
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"one_time_keys": keys})
	return nil
}

func (m *Messaging) isLocal(userID string) bool {
	i := len(userID) - len(m.opts.ServerName)
	return i > 1 && userID[0] == '@' && userID[i-1] == ':' && userID[i:] == m.opts.ServerName
}
