package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// A plain search word is asked of FTS5 as the index words it begins, by
// name (FTS5 then walks their postings lazily); a word that begins too
// many, or that the tokenizer may read otherwise, stays a prefix query;
// a word that begins none matches nothing. Each finds what a prefix query
// finds.
func TestSearchWordTerms(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "terms")
	var many []string
	for i := range maxPrefixTerms + 1 {
		many = append(many, fmt.Sprint("zz", i))
	}
	r.persist(core.PersistOptions{},
		withContent(r.msg("m1", 1), "", `{"msgtype":"m.text","body":"Mart and martians"}`),
		withContent(r.msg("m2", 2, "m1"), "", `{"msgtype":"m.text","body":"Marty's martian"}`),
		withContent(r.msg("m3", 3, "m2"), "", `{"msgtype":"m.text","body":"`+strings.Join(many, " ")+` Ünïcode"}`),
		withContent(r.msg("m4", 4, "m3"), "", `{"msgtype":"m.text","body":"market zz3"}`),
	)
	if err := s.db.waitSearchIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		word, term string
		found      []string
	}{
		{"mart", `("mart" OR "martian" OR "martians" OR "marty")`, []string{"m2", "m1"}},
		{"martian", `("martian" OR "martians")`, []string{"m2", "m1"}},
		{"market", `"market"`, []string{"m4"}},
		{"marx", "", []string{}},
		{"zz", `"zz"*`, []string{"m4", "m3"}},
		{"zz3", `"zz3"`, []string{"m4", "m3"}},
		{"ünï", `"ünï"*`, []string{"m3"}},
		{"unicode", `"unicode"`, []string{"m3"}},
	} {
		err := s.read(ctx, nil, func(rd reader) error {
			got, err := wordTerm(rd, tc.word)
			if err == nil && got != tc.term {
				t.Errorf("wordTerm(%q) = %s, want %s", tc.word, got, tc.term)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		hits, err := s.SearchEvents(ctx, clientsync.SearchQuery{RoomIDs: []string{r.id}, Words: []string{tc.word},
			Keys: []string{clientsync.KeyBody}, Recent: true, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.Event.EventID
		}
		if got := names(ids, "m1", "m2", "m3", "m4"); strings.Join(got, " ") != strings.Join(tc.found, " ") {
			t.Errorf("search %q found %v, want %v", tc.word, got, tc.found)
		}
	}
}

// TestMigrateSearchTerms opens a version-2 database written before delta
// 2/10 with today's schema: the vocabulary table is made over the index
// the database already has, and a search word finds the words it begins.
func TestMigrateSearchTerms(t *testing.T) {
	ctx := context.Background()
	const delta = "main/delta/2/10event_search_terms.sql"
	o := testOptions(t)
	old := openBefore(t, o, delta)
	err := old.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "INSERT INTO server_config (key, value) VALUES ('server_name', ?)", testServer)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRoom(t, NewEventStore(old), "old")
	r.persist(core.PersistOptions{}, withContent(r.msg("m1", 1), "", `{"msgtype":"m.text","body":"Martians before the delta"}`))
	old.Close()

	db := mustOpenMigrated(t, o, delta)
	hits, err := NewEventStore(db).SearchEvents(ctx, clientsync.SearchQuery{RoomIDs: []string{r.id}, Words: []string{"mart"},
		Keys: []string{clientsync.KeyBody}, Limit: 10})
	if err != nil || len(hits) != 1 || hits[0].Event.EventID != eventID("m1") {
		t.Errorf("search after migrating: %v, %v; want m1", hits, err)
	}
}
