package web

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"hearth.dev/hearth/core"
)

// registerPusherRoutes serves the pusher API.
func (s *Server) registerPusherRoutes() {
	s.mux.HandleFunc("GET /_matrix/client/v3/pushers", s.authed(s.getPushers))
	s.mux.HandleFunc("POST /_matrix/client/v3/pushers/set", s.authed(s.postPushersSet))
}

// PushGatewayPath is the path every http pusher's URL must have.
const PushGatewayPath = "/_matrix/push/v1/notify"

// getPushers answers GET /pushers.
func (s *Server) getPushers(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	ps, err := s.opts.Pushers.Pushers(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []core.Pusher{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"pushers": ps})
	return nil
}

// pusherRequest is the body of POST /pushers/set.
type pusherRequest struct {
	PushKey           *string         `json:"pushkey"`
	Kind              json.RawMessage `json:"kind"`
	AppID             *string         `json:"app_id"`
	AppDisplayName    *string         `json:"app_display_name"`
	DeviceDisplayName *string         `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag"`
	Lang              *string         `json:"lang"`
	Data              json.RawMessage `json:"data"`
	Append            bool            `json:"append"`
}

// postPushersSet answers POST /pushers/set: kind null deletes the pusher
// with this app ID and pushkey; kind "http" creates or updates one, whose
// data.url must be an https URL (or http to a loopback address) with the
// path /_matrix/push/v1/notify. Other kinds (email) are not supported.
func (s *Server) postPushersSet(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req pusherRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var missing []string
	if len(req.Kind) == 0 {
		missing = append(missing, "kind")
	}
	if req.AppID == nil {
		missing = append(missing, "app_id")
	}
	if req.PushKey == nil {
		missing = append(missing, "pushkey")
	}
	if len(missing) > 0 {
		return core.ErrMissingParam.WithMessage("Missing parameters: %s", strings.Join(missing, ", "))
	}
	if len(*req.PushKey) > 512 || utf8.RuneCountInString(*req.AppID) > 64 {
		return core.ErrInvalidParam.WithMessage("pushkey is at most 512 bytes and app_id at most 64 characters")
	}
	if bytes.Equal(req.Kind, []byte("null")) {
		if err := s.opts.Pushers.DeletePusher(r.Context(), sess.UserID, *req.AppID, *req.PushKey); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	var kind string
	if json.Unmarshal(req.Kind, &kind) != nil {
		return core.ErrBadJSON.WithMessage("kind must be a string or null")
	}
	if req.AppDisplayName == nil {
		missing = append(missing, "app_display_name")
	}
	if req.DeviceDisplayName == nil {
		missing = append(missing, "device_display_name")
	}
	if req.Lang == nil {
		missing = append(missing, "lang")
	}
	if len(req.Data) == 0 || bytes.Equal(req.Data, []byte("null")) {
		missing = append(missing, "data")
	}
	if len(missing) > 0 {
		return core.ErrMissingParam.WithMessage("Missing parameters: %s", strings.Join(missing, ", "))
	}
	if kind != core.PusherKindHTTP {
		return core.ErrInvalidParam.WithMessage("Unsupported pusher kind %q", kind)
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(req.Data, &data) != nil {
		return core.ErrBadJSON.WithMessage("data must be an object")
	}
	var gateway string
	if json.Unmarshal(data["url"], &gateway) != nil {
		return core.ErrMissingParam.WithMessage("data.url is required for http pushers")
	}
	if err := checkGatewayURL(gateway); err != nil {
		return err
	}
	p := core.Pusher{
		UserID: sess.UserID, PushKey: *req.PushKey, Kind: kind, AppID: *req.AppID,
		AppDisplayName: *req.AppDisplayName, DeviceDisplayName: *req.DeviceDisplayName,
		ProfileTag: req.ProfileTag, Lang: *req.Lang, Data: compactJSON(req.Data),
		PushKeyTS: s.opts.Now().UnixMilli(), DeviceID: sess.DeviceID,
	}
	if err := s.opts.Pushers.SetPusher(r.Context(), p, req.Append); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// checkGatewayURL checks an http pusher's URL: https (or plain http to a
// loopback address, for a gateway on the same machine) with the path
// /_matrix/push/v1/notify.
func checkGatewayURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return core.ErrInvalidParam.WithMessage("data.url must be an absolute URL")
	}
	if u.Path != PushGatewayPath {
		return core.ErrInvalidParam.WithMessage("data.url must have the path %s", PushGatewayPath)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return core.ErrInvalidParam.WithMessage("data.url must be an https URL")
}
