package web

import (
	"encoding/json"
	"net/http"
	"slices"

	"hearth.dev/hearth/core"
)

// registerToDeviceRoutes serves send-to-device messaging.
func (s *Server) registerToDeviceRoutes() {
	s.mux.HandleFunc("PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}", s.authed(s.putSendToDevice))
}

// putSendToDevice is PUT /sendToDevice/{eventType}/{txnId}. It is
// idempotent per device and transaction ID. Messages to remote users are
// dropped (and logged): federation is not built yet.
func (s *Server) putSendToDevice(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	eventType, txnID := r.PathValue("eventType"), r.PathValue("txnId")
	var req struct {
		Messages map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Messages == nil {
		return core.ErrMissingParam.WithMessage("messages is required")
	}
	var targets []core.ToDeviceTarget
	for _, userID := range sortedStrings(req.Messages) {
		// Remote users' messages go to the service too: with federation it
		// sends them to their servers, without it they reach no device.
		if _, _, ok := s.isLocalUser(userID); !ok {
			return core.ErrInvalidParam.WithMessage("%q is not a user ID", userID)
		}
		for _, dev := range sortedStrings(req.Messages[userID]) {
			content := req.Messages[userID][dev]
			if len(content) == 0 || content[0] != '{' {
				return core.ErrBadJSON.WithMessage("the message to %s %s is not an object", userID, dev)
			}
			targets = append(targets, core.ToDeviceTarget{UserID: userID, DeviceID: dev, Content: content})
		}
	}
	_, err := s.opts.ToDevice.SendToDevice(r.Context(),
		core.TxnID{UserID: sess.UserID, DeviceID: sess.DeviceID, TxnID: txnID}, eventType, targets)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// sortedStrings returns the keys of m, sorted.
func sortedStrings[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
