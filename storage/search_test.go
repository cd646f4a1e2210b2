package storage

import (
	"context"
	"errors"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

func TestSearchEvents(t *testing.T) {
	s := newTestStore(t)
	r := newTestRoom(t, s, "search")
	other := newTestRoom(t, s, "other")
	name := r.state("name", 5, "m.room.name", "", `{"name":"Martian book club"}`, "m3")
	topic := r.state("topic", 6, "m.room.topic", "", `{"m.topic":{"m.text":[{"mimetype":"text/html","body":"<b>x</b>"},{"body":"Reading about martians"}]}}`, "name")
	r.persist(core.PersistOptions{},
		withContent(r.msg("m1", 1), "", `{"body":"Martians and men","msgtype":"m.text"}`),
		withContent(r.msg("m2", 2, "m1"), "", `{"body":"The war of the worlds: martians martians martians","msgtype":"m.text"}`),
		withContent(r.msg("m3", 3, "m2"), "", `{"body":"Nothing to see here","msgtype":"m.text"}`),
		name, topic,
		// Not text: a number body, an encrypted event.
		withContent(r.msg("m4", 7, "topic"), "", `{"body":42}`),
	)
	other.persist(core.PersistOptions{}, withContent(other.msg("o1", 1), "", `{"body":"martians elsewhere","msgtype":"m.text"}`))
	all := []string{"m1", "m2", "m3", "m4", "name", "topic", "o1"}
	ctx := context.Background()
	search := func(q clientsync.SearchQuery) []string {
		t.Helper()
		if q.RoomIDs == nil {
			q.RoomIDs = []string{r.id}
		}
		if q.Keys == nil {
			q.Keys = []string{clientsync.KeyBody, clientsync.KeyName, clientsync.KeyTopic}
		}
		if q.Limit == 0 {
			q.Limit = 10
		}
		hits, err := s.SearchEvents(ctx, q)
		if err != nil {
			t.Fatalf("SearchEvents(%+v): %v", q, err)
		}
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.Event.EventID
			if i > 0 && !q.Recent && h.Rank > hits[i-1].Rank {
				t.Errorf("rank order: %v after %v", h.Rank, hits[i-1].Rank)
			}
		}
		return names(ids, all...)
	}
	for _, tc := range []struct {
		name string
		q    clientsync.SearchQuery
		want []string
	}{
		{"rank: most matches first", clientsync.SearchQuery{Words: []string{"martians"}, Keys: []string{clientsync.KeyBody}}, []string{"m2", "m1"}},
		{"recent", clientsync.SearchQuery{Words: []string{"martians"}, Recent: true}, []string{"topic", "m2", "m1"}},
		{"recent, before", clientsync.SearchQuery{Words: []string{"martians"}, Recent: true, Before: 3}, []string{"m2", "m1"}},
		{"prefix", clientsync.SearchQuery{Words: []string{"mart"}, Keys: []string{clientsync.KeyName}}, []string{"name"}},
		{"all words", clientsync.SearchQuery{Words: []string{"martians", "men"}}, []string{"m1"}},
		{"topic's plain text only", clientsync.SearchQuery{Words: []string{"reading"}, Keys: []string{clientsync.KeyTopic}}, []string{"topic"}},
		{"no html", clientsync.SearchQuery{Words: []string{"x"}}, []string{}},
		{"two rooms", clientsync.SearchQuery{Words: []string{"martians"}, Keys: []string{clientsync.KeyBody}, RoomIDs: []string{r.id, other.id}, Recent: true}, []string{"o1", "m2", "m1"}},
		{"offset", clientsync.SearchQuery{Words: []string{"martians"}, Keys: []string{clientsync.KeyBody}, Offset: 1}, []string{"m1"}},
		{"number body not indexed", clientsync.SearchQuery{Words: []string{"42"}}, []string{}},
		{"quotes are words", clientsync.SearchQuery{Words: []string{`"`}}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := search(tc.q)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
		})
	}

	// Per-room stream bounds, and counting what a search finds.
	byRecent, err := s.SearchEvents(ctx, clientsync.SearchQuery{RoomIDs: []string{r.id, other.id},
		Words: []string{"martians"}, Keys: []string{clientsync.KeyBody}, Recent: true, Limit: 10})
	if err != nil || len(byRecent) != 3 {
		t.Fatalf("recent search: %d hits, %v; want 3", len(byRecent), err)
	}
	m1 := byRecent[2].Event.StreamOrdering
	for _, tc := range []struct {
		name         string
		after, until map[string]int64
		want         []string
	}{
		{"after m1", map[string]int64{r.id: m1}, nil, []string{"o1", "m2"}},
		{"until m1", nil, map[string]int64{r.id: m1}, []string{"o1", "m1"}},
		{"other room's bounds", map[string]int64{other.id: 1 << 40}, nil, []string{"m2", "m1"}},
	} {
		q := clientsync.SearchQuery{RoomIDs: []string{r.id, other.id}, Words: []string{"martians"},
			Keys: []string{clientsync.KeyBody}, Recent: true, After: tc.after, Until: tc.until}
		if got := search(q); !cmp.Equal(got, tc.want) {
			t.Errorf("%s: hits %v, want %v", tc.name, got, tc.want)
		}
		n, err := s.CountSearch(ctx, q, nil, 100)
		if err != nil || n != len(tc.want) {
			t.Errorf("%s: CountSearch = %d, %v; want %d", tc.name, n, err, len(tc.want))
		}
	}
	countQ := clientsync.SearchQuery{RoomIDs: []string{r.id, other.id}, Words: []string{"martians"}, Keys: []string{clientsync.KeyBody}}
	for _, tc := range []struct {
		name string
		skip []string
		max  int
		want int
	}{
		{"all", nil, 100, 3},
		{"capped", nil, 2, 2},
		{"sender skipped", []string{"@alice:" + testServer}, 100, 0},
		{"someone else skipped", []string{"@bob:" + testServer}, 100, 3},
	} {
		if n, err := s.CountSearch(ctx, countQ, tc.skip, tc.max); err != nil || n != tc.want {
			t.Errorf("CountSearch %s = %d, %v; want %d", tc.name, n, err, tc.want)
		}
	}

	// Matches are ranked in windows, newest first: with windows of two,
	// m2 and o1 (the newest) come in rank order, then m1 alone; a page
	// that runs past a window's end goes on in the next one.
	func(v int) {
		defer func() { rankWindow = v }()
		rankWindow = 2
		q := clientsync.SearchQuery{Words: []string{"martians"}, Keys: []string{clientsync.KeyBody}, RoomIDs: []string{r.id, other.id}}
		if got := search(q); !cmp.Equal(got, []string{"m2", "o1", "m1"}) {
			t.Errorf("windows of two: %v, want [m2 o1 m1]", got)
		}
		q.Offset, q.Limit = 1, 2
		if got := search(q); !cmp.Equal(got, []string{"o1", "m1"}) {
			t.Errorf("windows of two, from 1: %v, want [o1 m1]", got)
		}
		q.Offset = 3
		if got := search(q); len(got) != 0 {
			t.Errorf("windows of two, from 3: %v, want none", got)
		}
	}(rankWindow)

	// Redacting m2 takes it out of the results.
	red := r.msg("redact-m2", 8, "m4")
	red.Type = "m.room.redaction"
	red.Redacts = eventID("m2")
	red.JSON = eventJSON(&red, `{"redacts":"`+eventID("m2")+`"}`)
	r.persist(core.PersistOptions{}, red)
	if got := search(clientsync.SearchQuery{Words: []string{"martians"}, Keys: []string{clientsync.KeyBody}}); !cmp.Equal(got, []string{"m1"}) {
		t.Errorf("after redaction: %v, want [m1]", got)
	}
	if n, err := s.CountSearch(ctx, countQ, nil, 100); err != nil || n != 2 {
		t.Errorf("CountSearch after redaction = %d, %v; want 2 (m1, o1)", n, err)
	}
	if _, err := s.SearchEvents(ctx, clientsync.SearchQuery{RoomIDs: []string{r.id}, Words: []string{"x"}, Keys: []string{"content.nope"}, Limit: 1}); err == nil {
		t.Error("unknown key: no error")
	}
}

func TestFilterStore(t *testing.T) {
	db := mustOpen(t)
	fs := NewFilterStore(db)
	ctx := context.Background()
	id1, err := fs.PutFilter(ctx, "@a:x", []byte(`{"room":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := fs.PutFilter(ctx, "@a:x", []byte(`{"presence":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	again, err := fs.PutFilter(ctx, "@a:x", []byte(`{"room":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 || again != id1 || id1[0] == '{' {
		t.Errorf("IDs %q, %q, again %q: want two distinct IDs and the first again", id1, id2, again)
	}
	got, err := fs.Filter(ctx, "@a:x", id2)
	if err != nil || string(got) != `{"presence":{}}` {
		t.Errorf("Filter(%s) = %s, %v", id2, got, err)
	}
	for _, tc := range []struct{ user, id string }{{"@b:x", id1}, {"@a:x", "99"}, {"@a:x", "x"}, {"@a:x", "01"}, {"@a:x", "-1"}} {
		if _, err := fs.Filter(ctx, tc.user, tc.id); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Filter(%s, %q) = %v, want not found", tc.user, tc.id, err)
		}
	}
}

// FuzzSearchTerm checks that no search term makes the full-text query
// fail: the words are quoted for FTS5 whatever they hold.
func FuzzSearchTerm(f *testing.F) {
	s := newTestStore(f)
	r := newTestRoom(f, s, "fuzz")
	r.persist(core.PersistOptions{}, withContent(r.msg("m1", 1), "", `{"body":"Ünïcode words and NEAR(x y) \"quotes\" *stars*","msgtype":"m.text"}`))
	for _, term := range []string{"words", `"`, "NEAR(x", "a AND OR NOT b", "*", "ü", "x:y", "{body}", "^start", "-"} {
		f.Add(term)
	}
	f.Fuzz(func(t *testing.T, term string) {
		words := clientsync.SearchWords(term)
		for _, w := range words {
			for _, c := range w {
				if !unicode.IsLetter(c) && !unicode.IsDigit(c) {
					t.Fatalf("SearchWords(%q) gave %q", term, w)
				}
			}
		}
		for _, ws := range [][]string{words, {term}} {
			if len(ws) == 0 || ws[0] == "" {
				continue
			}
			_, err := s.SearchEvents(context.Background(), clientsync.SearchQuery{
				RoomIDs: []string{r.id}, Words: ws, Keys: []string{clientsync.KeyBody, clientsync.KeyName, clientsync.KeyTopic}, Limit: 5,
			})
			if err != nil {
				t.Fatalf("SearchEvents(%q): %v", ws, err)
			}
		}
	})
}
