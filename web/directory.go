package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/matrixhttp"
)

func (s *Server) registerDirectoryRoutes() {
	const p = "/_matrix/client/v3"
	s.mux.HandleFunc("GET "+p+"/directory/room/{roomAlias}", public(s.getAlias))
	s.mux.HandleFunc("PUT "+p+"/directory/room/{roomAlias}", s.authed(s.putAlias))
	s.mux.HandleFunc("DELETE "+p+"/directory/room/{roomAlias}", s.authed(s.deleteAlias))
	s.mux.HandleFunc("GET "+p+"/rooms/{roomId}/aliases", s.authed(s.getRoomAliases))
	s.mux.HandleFunc("GET "+p+"/directory/list/room/{roomId}", public(s.getDirectoryVisibility))
	s.mux.HandleFunc("PUT "+p+"/directory/list/room/{roomId}", s.authed(s.putDirectoryVisibility))
	s.mux.HandleFunc("GET "+p+"/publicRooms", public(s.getPublicRooms))
	s.mux.HandleFunc("POST "+p+"/publicRooms", s.authed(s.postPublicRooms))
}

// getAlias is GET /directory/room/{roomAlias}.
func (s *Server) getAlias(w http.ResponseWriter, r *http.Request) error {
	alias := r.PathValue("roomAlias")
	if s.opts.RemoteRooms != nil && !strings.HasSuffix(alias, ":"+s.opts.ServerName) {
		roomID, servers, err := s.opts.RemoteRooms.ResolveRemoteAlias(r.Context(), alias)
		if err != nil {
			return err
		}
		if servers == nil {
			servers = []string{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": servers})
		return nil
	}
	roomID, err := s.resolveLocalAlias(r, alias)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": []string{s.opts.ServerName}})
	return nil
}

// putAlias is PUT /directory/room/{roomAlias}: 409 when the alias is taken.
func (s *Server) putAlias(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body struct {
		RoomID string `json:"room_id"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.RoomID == "" {
		return core.ErrMissingParam.WithMessage("room_id is required")
	}
	alias := r.PathValue("roomAlias")
	if err := s.exclusiveAlias(alias, s.appService(r)); err != nil {
		return err
	}
	err := s.opts.Rooms.CreateAlias(r.Context(), alias, body.RoomID, sess.UserID)
	if errors.Is(err, core.ErrRoomInUse) {
		err = core.ErrUnknown.WithStatus(http.StatusConflict).WithMessage("room alias %s already exists", alias)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, empty)
	return nil
}

// deleteAlias is DELETE /directory/room/{roomAlias}.
func (s *Server) deleteAlias(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if err := s.opts.Rooms.DeleteAlias(r.Context(), r.PathValue("roomAlias"), sess.UserID, sess.IsAdmin); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, empty)
	return nil
}

// getRoomAliases is GET /rooms/{roomId}/aliases.
func (s *Server) getRoomAliases(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	aliases, err := s.opts.Rooms.Aliases(r.Context(), r.PathValue("roomId"), sess.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]string{"aliases": aliases})
	return nil
}

// getDirectoryVisibility is GET /directory/list/room/{roomId}.
func (s *Server) getDirectoryVisibility(w http.ResponseWriter, r *http.Request) error {
	v, err := s.opts.Rooms.Visibility(r.Context(), r.PathValue("roomId"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"visibility": v})
	return nil
}

// putDirectoryVisibility is PUT /directory/list/room/{roomId}.
func (s *Server) putDirectoryVisibility(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body struct {
		Visibility string `json:"visibility"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Visibility == "" {
		body.Visibility = "public"
	}
	if err := s.opts.Rooms.SetVisibility(r.Context(), r.PathValue("roomId"), sess.UserID, sess.IsAdmin, body.Visibility); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, empty)
	return nil
}

// publicRoomsQuery is what both forms of /publicRooms ask.
type publicRoomsQuery struct {
	Limit  *int   `json:"limit"`
	Since  string `json:"since"`
	Filter struct {
		GenericSearchTerm string    `json:"generic_search_term"`
		RoomTypes         []*string `json:"room_types"`
	} `json:"filter"`
	IncludeAllNetworks   bool   `json:"include_all_networks"`
	ThirdPartyInstanceID string `json:"third_party_instance_id"`
}

// directoryList is the list of the room directory a /publicRooms query
// asks for: the server's own by default, every list with
// include_all_networks, or one application service network's with
// third_party_instance_id, an instance_id of GET /thirdparty/protocols
// ("<service ID>|<network ID>", as Synapse writes them).
func directoryList(q publicRoomsQuery) (room.DirectoryList, error) {
	if q.ThirdPartyInstanceID == "" {
		return room.DirectoryList{AllNetworks: q.IncludeAllNetworks}, nil
	}
	if q.IncludeAllNetworks {
		return room.DirectoryList{}, core.ErrInvalidParam.WithMessage("third_party_instance_id can only be used if include_all_networks is false")
	}
	service, network, ok := strings.Cut(q.ThirdPartyInstanceID, "|")
	if !ok || service == "" {
		return room.DirectoryList{}, core.ErrInvalidParam.WithMessage("third_party_instance_id %q is not an instance_id of /thirdparty/protocols", q.ThirdPartyInstanceID)
	}
	return room.DirectoryList{AppService: service, Network: network}, nil
}

// getPublicRooms is GET /publicRooms (no access token needed).
func (s *Server) getPublicRooms(w http.ResponseWriter, r *http.Request) error {
	qv := r.URL.Query()
	var q publicRoomsQuery
	q.Since = qv.Get("since")
	if l := qv.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return core.ErrInvalidParam.WithMessage("limit must be an integer")
		}
		q.Limit = &n
	}
	return s.publicRooms(w, r, qv.Get("server"), q)
}

// postPublicRooms is POST /publicRooms, with a filter.
func (s *Server) postPublicRooms(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var q publicRoomsQuery
	if err := readJSON(r, &q); err != nil {
		return err
	}
	return s.publicRooms(w, r, r.URL.Query().Get("server"), q)
}

// publicRooms answers a /publicRooms query: the local published rooms,
// paged by offset tokens "p<offset>".
func (s *Server) publicRooms(w http.ResponseWriter, r *http.Request, server string, q publicRoomsQuery) error {
	if server != "" && server != s.opts.ServerName {
		if s.opts.RemoteRooms == nil {
			return core.ErrForbidden.WithMessage("listing %s's rooms needs federation", server)
		}
		page, err := s.opts.RemoteRooms.RemotePublicRooms(r.Context(), server, q.Limit, q.Since, q.Filter.GenericSearchTerm)
		if err != nil {
			return err
		}
		matrixhttp.WriteRawJSON(w, http.StatusOK, page)
		return nil
	}
	list, err := directoryList(q)
	if err != nil {
		return err
	}
	all, err := s.opts.Rooms.PublicRoomsIn(r.Context(), list, q.Filter.GenericSearchTerm)
	if err != nil {
		return err
	}
	if q.Filter.RoomTypes != nil {
		kept := all[:0]
		for _, pr := range all {
			for _, t := range q.Filter.RoomTypes {
				if t == nil && pr.RoomType == "" || t != nil && *t == pr.RoomType {
					kept = append(kept, pr)
					break
				}
			}
		}
		all = kept
	}
	offset := 0
	if q.Since != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(q.Since, "p"))
		if err != nil || !strings.HasPrefix(q.Since, "p") || n < 0 {
			return core.ErrInvalidParam.WithMessage("since: invalid token")
		}
		offset = min(n, len(all))
	}
	end := len(all)
	if q.Limit != nil && *q.Limit >= 0 {
		end = min(offset+*q.Limit, len(all))
	}
	resp := map[string]any{"chunk": all[offset:end], "total_room_count_estimate": len(all)}
	if end < len(all) {
		resp["next_batch"] = "p" + strconv.Itoa(end)
	}
	if offset > 0 {
		prev := 0
		if q.Limit != nil && *q.Limit > 0 {
			prev = max(offset-*q.Limit, 0)
		}
		resp["prev_batch"] = "p" + strconv.Itoa(prev)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
