package web

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// The room part of Synapse's admin API, in the shapes Synapse documents
// (docs/admin_api/rooms.md): list and details, blocks, and deleting a
// room (admin_rooms_delete.go).

func (s *Server) registerAdminRoomRoutes() {
	s.mux.HandleFunc("GET /_synapse/admin/v1/rooms", s.admin(s.getAdminRooms))
	s.mux.HandleFunc("GET /_synapse/admin/v1/rooms/{roomId}", s.admin(s.getAdminRoom))
	s.mux.HandleFunc("GET /_synapse/admin/v1/rooms/{roomId}/block", s.admin(s.getAdminRoomBlock))
	s.mux.HandleFunc("PUT /_synapse/admin/v1/rooms/{roomId}/block", s.admin(s.putAdminRoomBlock))
	s.mux.HandleFunc("DELETE /_synapse/admin/v1/rooms/{roomId}", s.admin(s.deleteAdminRoomV1))
	s.mux.HandleFunc("DELETE /_synapse/admin/v2/rooms/{roomId}", s.admin(s.deleteAdminRoomV2))
	// /v2/rooms/{roomId}/delete_status and /v2/rooms/delete_status/{deleteId}
	// overlap as patterns; one route tells them apart.
	s.mux.HandleFunc("GET /_synapse/admin/v2/rooms/{first}/{second}", s.admin(s.getAdminRoomDeleteStatus))
}

// adminRoomOrders maps each order_by value to the comparison it sorts by,
// in the direction Synapse documents for dir=f.
var adminRoomOrders = map[string]func(a, b core.AdminRoom) int{
	"name":                 func(a, b core.AdminRoom) int { return cmpLast(a.Name, b.Name) },
	"alphabetical":         func(a, b core.AdminRoom) int { return cmpLast(a.Name, b.Name) },
	"canonical_alias":      func(a, b core.AdminRoom) int { return cmpLast(a.CanonicalAlias, b.CanonicalAlias) },
	"joined_members":       func(a, b core.AdminRoom) int { return cmp.Compare(b.JoinedMembers, a.JoinedMembers) },
	"size":                 func(a, b core.AdminRoom) int { return cmp.Compare(b.JoinedMembers, a.JoinedMembers) },
	"joined_local_members": func(a, b core.AdminRoom) int { return cmp.Compare(b.JoinedLocalMembers, a.JoinedLocalMembers) },
	"version":              func(a, b core.AdminRoom) int { return compareVersions(b.Version, a.Version) },
	"creator":              func(a, b core.AdminRoom) int { return cmpLast(a.Creator, b.Creator) },
	"encryption":           func(a, b core.AdminRoom) int { return cmpLast(a.Encryption, b.Encryption) },
	"federatable":          func(a, b core.AdminRoom) int { return cmpBool(a.Federatable, b.Federatable) },
	"public":               func(a, b core.AdminRoom) int { return cmpBool(a.Public, b.Public) },
	"join_rules":           func(a, b core.AdminRoom) int { return cmpLast(a.JoinRules, b.JoinRules) },
	"guest_access":         func(a, b core.AdminRoom) int { return cmpLast(a.GuestAccess, b.GuestAccess) },
	"history_visibility":   func(a, b core.AdminRoom) int { return cmpLast(a.HistoryVisibility, b.HistoryVisibility) },
	"state_events":         func(a, b core.AdminRoom) int { return cmp.Compare(b.StateEvents, a.StateEvents) },
}

// cmpLast orders strings with "" (absent) after every other value.
func cmpLast(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	return strings.Compare(a, b)
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// compareVersions orders room versions numerically where both are numbers,
// as strings otherwise.
func compareVersions(a, b string) int {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return cmp.Compare(na, nb)
	}
	return strings.Compare(a, b)
}

// adminRoomMatches reports whether room matches a search_term: contained in
// its name or its canonical alias's localpart (case-insensitively), or in
// its room ID (case-sensitively).
func adminRoomMatches(room core.AdminRoom, term string) bool {
	lower := strings.ToLower(term)
	if strings.Contains(strings.ToLower(room.Name), lower) || strings.Contains(room.RoomID, term) {
		return true
	}
	if room.CanonicalAlias != "" {
		local, _, _ := strings.Cut(strings.TrimPrefix(room.CanonicalAlias, "#"), ":")
		return strings.Contains(strings.ToLower(local), lower)
	}
	return false
}

// adminRoomListJSON is one room of the list.
func adminRoomListJSON(a core.AdminRoom) map[string]any {
	return map[string]any{
		"room_id":              a.RoomID,
		"name":                 nullable(a.Name),
		"canonical_alias":      nullable(a.CanonicalAlias),
		"joined_members":       a.JoinedMembers,
		"joined_local_members": a.JoinedLocalMembers,
		"version":              a.Version,
		"creator":              nullable(a.Creator),
		"encryption":           nullable(a.Encryption),
		"federatable":          a.Federatable,
		"public":               a.Public,
		"join_rules":           nullable(a.JoinRules),
		"guest_access":         nullable(a.GuestAccess),
		"history_visibility":   nullable(a.HistoryVisibility),
		"state_events":         a.StateEvents,
		"room_type":            nullable(a.RoomType),
	}
}

// adminRoomJSON is the answer of GET /v1/rooms/{roomId}.
func adminRoomJSON(a core.AdminRoom) map[string]any {
	out := adminRoomListJSON(a)
	out["topic"] = nullable(a.Topic)
	out["avatar"] = nullable(a.Avatar)
	out["joined_local_devices"] = a.JoinedLocalDevices
	out["forgotten"] = a.Forgotten
	return out
}

// getAdminRooms answers GET /_synapse/admin/v1/rooms: from, limit,
// order_by, dir, search_term, public_rooms and empty_rooms.
func (s *Server) getAdminRooms(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	q := r.URL.Query()
	from, err := queryInt(r, "from", 0)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	orderBy := q.Get("order_by")
	if orderBy == "" {
		orderBy = "name"
	}
	order, ok := adminRoomOrders[orderBy]
	if !ok {
		return core.ErrInvalidParam.WithMessage("Unknown value for order_by: %s", orderBy)
	}
	backward := false
	switch q.Get("dir") {
	case "", "f":
	case "b":
		backward = true
	default:
		return core.ErrInvalidParam.WithMessage("Unknown direction: %s", q.Get("dir"))
	}
	var filters []func(core.AdminRoom) bool
	if term := q.Get("search_term"); q.Has("search_term") {
		if term == "" {
			return core.ErrInvalidParam.WithMessage("search_term cannot be an empty string")
		}
		filters = append(filters, func(a core.AdminRoom) bool { return adminRoomMatches(a, term) })
	}
	for _, f := range []struct {
		param string
		value func(core.AdminRoom) bool
	}{
		{"public_rooms", func(a core.AdminRoom) bool { return a.Public }},
		{"empty_rooms", func(a core.AdminRoom) bool { return a.JoinedMembers == 0 }},
	} {
		if !q.Has(f.param) {
			continue
		}
		want, err := queryBool(r, f.param, false)
		if err != nil {
			return err
		}
		value := f.value
		filters = append(filters, func(a core.AdminRoom) bool { return value(a) == want })
	}

	all, err := s.opts.AdminRooms.AdminRooms(r.Context())
	if err != nil {
		return err
	}
	rooms := all[:0]
	for _, a := range all {
		if !slices.ContainsFunc(filters, func(f func(core.AdminRoom) bool) bool { return !f(a) }) {
			rooms = append(rooms, a)
		}
	}
	// sort.Slice, not slices.SortFunc: one sorting code for all element types
	// instead of a ~20 KB copy per struct type in the browser build.
	sort.SliceStable(rooms, func(i, j int) bool {
		c := cmp.Or(order(rooms[i], rooms[j]), strings.Compare(rooms[i].RoomID, rooms[j].RoomID))
		if backward {
			return c > 0
		}
		return c < 0
	})
	total := len(rooms)
	start := min(from, total)
	page := rooms[start : start+min(limit, total-start)]
	out := make([]map[string]any, len(page))
	for i, a := range page {
		out[i] = adminRoomListJSON(a)
	}
	resp := map[string]any{"rooms": out, "offset": from, "total_rooms": total}
	if from < total && limit < total-from {
		resp["next_batch"] = from + limit
	}
	if from > 0 {
		resp["prev_batch"] = max(from-limit, 0)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// adminRoomID parses the {roomId} of an admin path: M_INVALID_PARAM for
// something that is not a room ID.
func adminRoomID(r *http.Request, name string) (string, error) {
	raw := r.PathValue(name)
	if _, err := id.ParseRoomID(raw); err != nil {
		return "", core.ErrInvalidParam.WithMessage("%q is not a legal room ID", raw)
	}
	return raw, nil
}

// getAdminRoom answers GET /_synapse/admin/v1/rooms/{roomId}.
func (s *Server) getAdminRoom(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, err := adminRoomID(r, "roomId")
	if err != nil {
		return err
	}
	a, err := s.opts.AdminRooms.AdminRoom(r.Context(), roomID)
	if errors.Is(err, core.ErrNotFound) {
		return core.ErrNotFound.WithMessage("Room not found")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, adminRoomJSON(a))
	return nil
}

// getAdminRoomBlock answers GET /_synapse/admin/v1/rooms/{roomId}/block.
func (s *Server) getAdminRoomBlock(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, err := adminRoomID(r, "roomId")
	if err != nil {
		return err
	}
	b, err := s.opts.AdminRooms.RoomBlock(r.Context(), roomID)
	if err != nil {
		return err
	}
	resp := map[string]any{"block": b.Blocked}
	if b.Blocked {
		resp["user_id"] = b.By
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// putAdminRoomBlock answers PUT /_synapse/admin/v1/rooms/{roomId}/block,
// body {"block": bool}; the room need not be known.
func (s *Server) putAdminRoomBlock(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, err := adminRoomID(r, "roomId")
	if err != nil {
		return err
	}
	var body struct {
		Block *bool `json:"block"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Block == nil {
		return core.ErrMissingParam.WithMessage("Missing boolean param 'block'")
	}
	if err := s.opts.AdminRooms.SetRoomBlock(r.Context(), roomID, *body.Block, sess.UserID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"block": *body.Block})
	return nil
}
