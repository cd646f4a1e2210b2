package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"hearth.dev/hearth/core"
)

// deviceJSON is the spec's Device object.
func deviceJSON(d core.Device) map[string]any {
	out := map[string]any{"device_id": d.DeviceID}
	if d.DisplayName != "" {
		out["display_name"] = d.DisplayName
	}
	if d.LastSeenIP != "" {
		out["last_seen_ip"] = d.LastSeenIP
	}
	if !d.LastSeen.IsZero() {
		out["last_seen_ts"] = d.LastSeen.UnixMilli()
	}
	return out
}

// deviceSeen records the request in its device's last_seen (the store
// writes at most every few minutes). A failure is logged, not answered:
// the request itself is fine.
func (s *Server) deviceSeen(r *http.Request, sess *core.Session) {
	if err := s.opts.Devices.DeviceSeen(r.Context(), sess.UserID, sess.DeviceID, s.clientIP(r), s.opts.Now()); err != nil {
		slog.WarnContext(r.Context(), "recording device last seen", "err", err)
	}
}

// getDevices answers GET /devices.
func (s *Server) getDevices(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	devs, err := s.opts.Devices.Devices(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(devs))
	for _, d := range devs {
		out = append(out, deviceJSON(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
	return nil
}

// getDevice answers GET /devices/{deviceId}.
func (s *Server) getDevice(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	d, err := s.opts.Devices.Device(r.Context(), sess.UserID, r.PathValue("deviceId"))
	if err != nil {
		return deviceNotFound(err)
	}
	writeJSON(w, http.StatusOK, deviceJSON(d))
	return nil
}

// deviceNotFound gives M_NOT_FOUND a message a client can show.
func deviceNotFound(err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return core.ErrNotFound.WithMessage("Unknown device")
	}
	return err
}

// maxDeviceNameLength bounds device display names.
const maxDeviceNameLength = 256

// putDevice answers PUT /devices/{deviceId}: a new display name for an
// existing device. Creating devices is for application services, which
// hearth does not have, so an unknown device is M_NOT_FOUND.
func (s *Server) putDevice(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body struct {
		DisplayName *string `json:"display_name"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	deviceID := r.PathValue("deviceId")
	if body.DisplayName == nil {
		if _, err := s.opts.Devices.Device(r.Context(), sess.UserID, deviceID); err != nil {
			return deviceNotFound(err)
		}
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	if len(*body.DisplayName) > maxDeviceNameLength {
		return core.ErrInvalidParam.WithMessage("display_name is longer than %d bytes", maxDeviceNameLength)
	}
	if err := s.opts.Devices.SetDeviceDisplayName(r.Context(), sess.UserID, deviceID, *body.DisplayName); err != nil {
		return deviceNotFound(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// deleteDevice answers DELETE /devices/{deviceId}, after interactive auth
// by password.
func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	return s.deleteDevicesAuthed(w, r, sess, body.Auth, []string{r.PathValue("deviceId")})
}

// postDeleteDevices answers POST /delete_devices, after interactive auth by
// password.
func (s *Server) postDeleteDevices(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body struct {
		Auth    json.RawMessage `json:"auth"`
		Devices *[]string       `json:"devices"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Devices == nil {
		return core.ErrMissingParam.WithMessage("devices is required")
	}
	return s.deleteDevicesAuthed(w, r, sess, body.Auth, *body.Devices)
}

func (s *Server) deleteDevicesAuthed(w http.ResponseWriter, r *http.Request, sess *core.Session, auth json.RawMessage, deviceIDs []string) error {
	done, err := s.interactiveAuth(r, auth, uiaRequest{op: "delete_devices", flows: passwordFlows, userID: sess.UserID})
	if err != nil {
		return err
	}
	if err := s.opts.Devices.DeleteDevices(r.Context(), sess.UserID, deviceIDs); err != nil {
		return err
	}
	s.acct.uia.finish(done)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
