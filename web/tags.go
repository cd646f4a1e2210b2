package web

import (
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
)

// maxTagLen is the spec's bound on a tag name, in bytes.
const maxTagLen = 255

// getRoomTags answers GET /user/{userId}/rooms/{roomId}/tags.
func (s *Server) getRoomTags(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, err := ownData(r, sess)
	if err != nil {
		return err
	}
	tags, err := s.opts.AccountData.RoomTags(r.Context(), sess.UserID, roomID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": tags})
	return nil
}

// putRoomTag answers PUT .../tags/{tag}: the body is the tag's object, whose
// order, when present, must be a number.
func (s *Server) putRoomTag(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, tag, err := tagPath(r, sess)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	raw, err := readJSONObject(r, &body)
	if err != nil {
		return err
	}
	if o, ok := body["order"]; ok {
		var f float64
		if json.Unmarshal(o, &f) != nil {
			return core.ErrBadJSON.WithMessage("order must be a number")
		}
	}
	if _, err := s.opts.AccountData.SetRoomTag(r.Context(), sess.UserID, roomID, tag, raw); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// deleteRoomTag answers DELETE .../tags/{tag}; removing an absent tag is not
// an error.
func (s *Server) deleteRoomTag(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, tag, err := tagPath(r, sess)
	if err != nil {
		return err
	}
	if _, err := s.opts.AccountData.DeleteRoomTag(r.Context(), sess.UserID, roomID, tag); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func tagPath(r *http.Request, sess *core.Session) (roomID, tag string, err error) {
	roomID, err = ownData(r, sess)
	if err != nil {
		return "", "", err
	}
	tag = r.PathValue("tag")
	if tag == "" || len(tag) > maxTagLen {
		return "", "", core.ErrInvalidParam.WithMessage("Tag names are 1 to 255 bytes")
	}
	return roomID, tag, nil
}
