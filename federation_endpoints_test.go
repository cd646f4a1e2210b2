package hearth

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"hearth.dev/hearth/federation"
)

// Server-server endpoints without a test of their own elsewhere: POST
// /publicRooms (a filtered directory page, X-Matrix signed), and the
// answers for what hearth does not serve: another /query type and the
// policy server's /sign (hearth is no policy server) are 404
// M_UNRECOGNIZED, as the spec's "Unsupported endpoints" asks.
func TestFederationEndpointsMisc(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	for _, name := range []string{"gardening", "knitting"} {
		a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat", "name": name, "visibility": "public"})
	}
	ctx := context.Background()
	var page struct {
		Chunk []struct {
			RoomID string `json:"room_id"`
			Name   string `json:"name"`
		} `json:"chunk"`
		TotalRoomCountEstimate int `json:"total_room_count_estimate"`
	}
	err := b.hs.FederationClient.Request(ctx, "a.test", "POST", "/_matrix/federation/v1/publicRooms",
		map[string]any{"limit": 10, "filter": map[string]any{"generic_search_term": "knit"}}, &page)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Chunk) != 1 || page.Chunk[0].Name != "knitting" {
		t.Fatalf("POST /publicRooms searching knit = %+v, want the knitting room", page)
	}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/_matrix/federation/v1/query/weather?city=x"},
		{"POST", "/_matrix/policy/v1/sign"},
	} {
		var body any
		if tt.method == "POST" {
			body = map[string]any{}
		}
		err := b.hs.FederationClient.Request(ctx, "a.test", tt.method, tt.path, body, nil)
		var re *federation.RemoteError
		if !errors.As(err, &re) || re.Status != http.StatusNotFound || re.ErrCode != "M_UNRECOGNIZED" {
			t.Errorf("%s %s: %v, want 404 M_UNRECOGNIZED", tt.method, tt.path, err)
		}
	}
}
