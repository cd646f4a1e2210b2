package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/room"
)

// adminRoomFixture is a database with the room pipeline on it, for the
// admin room store's tests.
type adminRoomFixture struct {
	es    *EventStore
	store *AdminRoomStore
	rooms *room.Pipeline
}

func newAdminRoomFixture(tb testing.TB) *adminRoomFixture {
	tb.Helper()
	return newAdminRoomFixtureWith(tb, testOptions(tb))
}

func newAdminRoomFixtureWith(tb testing.TB, o Options) *adminRoomFixture {
	tb.Helper()
	ctx := context.Background()
	es := newTestStoreWith(tb, o)
	key, err := es.db.ServerSigningKey(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := room.New(room.Config{ServerName: testServer, Key: key}, room.Stores{
		Events: es, Timeline: es, State: es, Groups: es, Rooms: es, AuthChains: es, Directory: NewDirectoryStore(es.db),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &adminRoomFixture{es: es, store: NewAdminRoomStore(es.db, testServer), rooms: p}
}

func (f *adminRoomFixture) exec(tb testing.TB, query string, args ...any) {
	tb.Helper()
	err := f.es.db.Write(context.Background(), func(q Queryer) error {
		_, err := q.ExecContext(context.Background(), query, args...)
		return err
	})
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}

// addDevices gives userID an account with n devices.
func (f *adminRoomFixture) addDevices(tb testing.TB, userID string, n int) {
	tb.Helper()
	f.exec(tb, "INSERT INTO users (user_id, creation_ts) VALUES (?, 0)", userID)
	for i := range n {
		f.exec(tb, "INSERT INTO devices (user_id, device_id) VALUES (?, ?)", userID, fmt.Sprintf("D%d", i))
	}
}

func (f *adminRoomFixture) createRoom(tb testing.TB, req room.CreateRequest) string {
	tb.Helper()
	id, err := f.rooms.CreateRoom(context.Background(), req)
	if err != nil {
		tb.Fatalf("CreateRoom: %v", err)
	}
	return id
}

func (f *adminRoomFixture) send(tb testing.TB, roomID, sender string, content string, txn *core.TxnID) string {
	tb.Helper()
	id, err := f.rooms.Send(context.Background(), roomID, room.Proto{Type: "m.room.message", Sender: sender, Content: json.RawMessage(content)}, txn)
	if err != nil {
		tb.Fatalf("Send: %v", err)
	}
	return id
}

func ptr[T any](v T) *T { return &v }

// The local users of the admin room tests.
const (
	arAlice = "@alice:" + testServer
	arBob   = "@bob:" + testServer
	arCarol = "@carol:" + testServer
)

func TestAdminRooms(t *testing.T) {
	ctx := context.Background()
	f := newAdminRoomFixture(t)
	f.addDevices(t, arAlice, 2)
	f.addDevices(t, arBob, 1)

	a := f.createRoom(t, room.CreateRequest{
		Creator: arAlice, RoomVersion: "10", Preset: room.PresetPrivateChat,
		Name: ptr("Room A"), Topic: ptr("about A"), RoomAliasName: "aaa",
		InitialState: []room.StateProto{
			{Type: "m.room.encryption", Content: json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)},
			{Type: "m.room.avatar", Content: json.RawMessage(`{"url":"mxc://example.org/av"}`)},
		},
		Invite: []string{arBob, arCarol},
	})
	if _, err := f.rooms.Join(ctx, a, arBob, ""); err != nil {
		t.Fatal(err)
	}
	b := f.createRoom(t, room.CreateRequest{
		Creator: arBob, RoomVersion: "12", Preset: room.PresetPublicChat, Visibility: "public",
		CreationContent: json.RawMessage(`{"m.federate":false,"type":"m.space"}`),
	})
	// A room whose only local member left and forgot it.
	c := f.createRoom(t, room.CreateRequest{Creator: arAlice, RoomVersion: "11", Name: ptr(`{"not":"a name"}`)})
	if err := f.rooms.Leave(ctx, c, arAlice, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.rooms.Forget(ctx, c, arAlice); err != nil {
		t.Fatal(err)
	}

	want := map[string]core.AdminRoom{
		a: {
			RoomID: a, Version: "10", Creator: arAlice, Name: "Room A", Topic: "about A",
			Avatar: "mxc://example.org/av", CanonicalAlias: "#aaa:" + testServer,
			Encryption: "m.megolm.v1.aes-sha2", JoinRules: "invite", GuestAccess: "can_join",
			HistoryVisibility: "shared", Federatable: true,
			JoinedMembers: 2, JoinedLocalMembers: 2, JoinedLocalDevices: 3,
			// create, 3 members, power levels, alias, join rules, history,
			// guest access, encryption, avatar, name, topic
			StateEvents: 13,
		},
		b: {
			RoomID: b, Version: "12", Creator: arBob, Public: true, JoinRules: "public",
			GuestAccess: "forbidden", HistoryVisibility: "shared", RoomType: "m.space",
			JoinedMembers: 1, JoinedLocalMembers: 1, JoinedLocalDevices: 1, StateEvents: 6,
		},
		c: {
			RoomID: c, Version: "11", Creator: arAlice, Name: `{"not":"a name"}`, JoinRules: "invite",
			GuestAccess: "can_join", HistoryVisibility: "shared", Federatable: true,
			StateEvents: 7, Forgotten: true,
		},
	}
	all, err := f.store.AdminRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]core.AdminRoom{}
	for i, r := range all {
		got[r.RoomID] = r
		if i > 0 && all[i-1].RoomID >= r.RoomID {
			t.Errorf("AdminRooms not in room ID order: %s before %s", all[i-1].RoomID, r.RoomID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AdminRooms (-want +got):\n%s", diff)
	}
	for id, w := range want {
		one, err := f.store.AdminRoom(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, one); diff != "" {
			t.Errorf("AdminRoom(%s) (-want +got):\n%s", id, diff)
		}
	}
	if _, err := f.store.AdminRoom(ctx, "!unknown:"+testServer); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("AdminRoom(unknown) = %v, want not found", err)
	}

	members, err := f.store.LocalMembers(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	wantMembers := []core.LocalMember{{UserID: arAlice, Membership: "join"}, {UserID: arBob, Membership: "join"}, {UserID: arCarol, Membership: "invite"}}
	if diff := cmp.Diff(wantMembers, members); diff != "" {
		t.Errorf("LocalMembers (-want +got):\n%s", diff)
	}
	if m, err := f.store.LocalMembers(ctx, "!unknown:"+testServer); err != nil || len(m) != 0 {
		t.Errorf("LocalMembers(unknown) = %v, %v; want none", m, err)
	}
	aliases, err := f.store.LocalAliases(ctx, a)
	if err != nil || !cmp.Equal(aliases, []string{"#aaa:" + testServer}) {
		t.Errorf("LocalAliases = %v, %v", aliases, err)
	}
}

func TestRoomBlock(t *testing.T) {
	ctx := context.Background()
	f := newAdminRoomFixture(t)
	const r = "!blocked:elsewhere.org"
	steps := []struct {
		blocked bool
		by      string
		want    core.RoomBlock
	}{
		{true, arAlice, core.RoomBlock{Blocked: true, By: arAlice}},
		{true, arBob, core.RoomBlock{Blocked: true, By: arAlice}}, // the first blocker stays
		{false, "", core.RoomBlock{}},
		{false, "", core.RoomBlock{}},
		{true, arBob, core.RoomBlock{Blocked: true, By: arBob}},
	}
	for i, s := range steps {
		if err := f.store.SetRoomBlock(ctx, r, s.blocked, s.by); err != nil {
			t.Fatal(err)
		}
		got, err := f.store.RoomBlock(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.want {
			t.Errorf("step %d: RoomBlock = %+v, want %+v", i, got, s.want)
		}
	}
	if got, err := f.store.RoomBlock(ctx, "!other:x"); err != nil || got.Blocked {
		t.Errorf("RoomBlock(other) = %+v, %v", got, err)
	}
}

// roomTraces counts, table by table, the rows that still name roomID (by
// room_id, or by room_nid when nid is not 0) or that name an event that is
// no longer stored. It reads the schema, so a table added later is checked
// too. e2e_room_keys (users' key backups) and blocked_rooms are left out:
// a purge keeps them.
func roomTraces(tb testing.TB, db *DB, roomID string, nid int64) map[string]int {
	tb.Helper()
	ctx := context.Background()
	out := map[string]int{}
	err := db.Read(ctx, func(q Queryer) error {
		type table struct{ schema, name string }
		var tables []table
		var schemas []string
		rows, err := q.QueryContext(ctx, "SELECT name FROM pragma_database_list WHERE name != 'temp'")
		if err != nil {
			return err
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			schemas = append(schemas, n)
		}
		rows.Close()
		for _, schema := range schemas {
			rows, err := q.QueryContext(ctx, fmt.Sprintf(
				"SELECT name FROM %s.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%%' AND sql NOT LIKE 'CREATE VIRTUAL%%'", schema))
			if err != nil {
				return err
			}
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					rows.Close()
					return err
				}
				tables = append(tables, table{schema, n})
			}
			rows.Close()
		}
		for _, t := range tables {
			if t.name == "e2e_room_keys" || t.name == "blocked_rooms" {
				continue
			}
			rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT name FROM pragma_table_info('%s', '%s')", t.name, t.schema))
			if err != nil {
				return err
			}
			var cols []string
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					rows.Close()
					return err
				}
				cols = append(cols, c)
			}
			rows.Close()
			for _, c := range cols {
				var query string
				var args []any
				switch {
				case c == "room_id":
					query, args = "room_id = ?", []any{roomID}
				case c == "room_nid" && nid != 0:
					query, args = "room_nid = ?", []any{nid}
				case c == "event_nid" || c == "latest_event_nid":
					query = c + " NOT IN (SELECT event_nid FROM events)"
				case c == "state_group" || c == "prev_state_group":
					query = c + " NOT IN (SELECT id FROM state_groups)"
				default:
					continue
				}
				var n int
				if err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s.%s WHERE %s", t.schema, t.name, query), args...).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					out[t.name+"."+c] += n
				}
			}
		}
		// The contentless search index: rows of events no longer stored.
		var n int
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM event_search WHERE rowid NOT IN (SELECT event_nid FROM events)").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			out["event_search.rowid"] = n
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// fillRoom puts into roomID a bit of everything purge must remove.
func (f *adminRoomFixture) fillRoom(tb testing.TB, roomID string) {
	tb.Helper()
	ctx := context.Background()
	root := f.send(tb, roomID, arAlice, `{"msgtype":"m.text","body":"redacted words"}`, &core.TxnID{UserID: arAlice, DeviceID: "D0", TxnID: "t1"})
	f.send(tb, roomID, arAlice, `{"msgtype":"m.text","body":"searchable words"}`, nil)
	f.send(tb, roomID, arBob, fmt.Sprintf(`{"msgtype":"m.text","body":"in thread","m.relates_to":{"rel_type":"m.thread","event_id":%q}}`, root), nil)
	if _, err := f.rooms.Redact(ctx, roomID, arAlice, root, "gone", nil); err != nil {
		tb.Fatal(err)
	}
	receipts := NewReceiptStore(f.es.db)
	if _, err := receipts.SetReceipt(ctx, core.Receipt{RoomID: roomID, UserID: arBob, Type: "m.read", EventID: root, TS: 1}); err != nil {
		tb.Fatal(err)
	}
	if _, err := NewAccountDataStore(f.es.db).SetRoomTag(ctx, arBob, roomID, "m.favourite", json.RawMessage(`{}`)); err != nil {
		tb.Fatal(err)
	}
	f.exec(tb, `INSERT INTO event_push_actions (user_id, event_nid, room_nid, stream_ordering, thread_id, actions, highlight, ts)
		SELECT ?, e.event_nid, e.room_nid, e.stream_ordering, 'main', '["notify"]', 0, 0
		FROM events e JOIN rooms r ON r.room_nid = e.room_nid WHERE r.room_id = ? AND e.type = 'm.room.message'`, arBob, roomID)
	// An out-of-band membership: an outlier.
	if _, err := f.es.PersistEvents(ctx, []core.NewEvent{{
		EventID: eventID("outlier " + roomID), RoomID: roomID, Type: "m.room.member", StateKey: ptr(arCarol),
		Sender: "@dave:elsewhere.org", Membership: "invite", JSON: []byte(`{}`), FormatVersion: 3,
		Outlier: true, OutOfBandMembership: true,
	}}, core.PersistOptions{}); err != nil {
		tb.Fatal(err)
	}
}

func TestPurgeRoom(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run(fmt.Sprintf("state file of its own %v", split), func(t *testing.T) {
			o := testOptions(t)
			if split {
				if testVFS != "" {
					t.Skip("a second file needs the host file system")
				}
				o.StatePath = testPath(t, "state.db")
			}
			testPurgeRoom(t, newAdminRoomFixtureWith(t, o))
		})
	}
}

func testPurgeRoom(t *testing.T, f *adminRoomFixture) {
	ctx := context.Background()
	f.addDevices(t, arAlice, 1)
	doomed := f.createRoom(t, room.CreateRequest{Creator: arAlice, Preset: room.PresetPublicChat, Name: ptr("doomed"),
		RoomAliasName: "doomed", Invite: []string{arBob}})
	kept := f.createRoom(t, room.CreateRequest{Creator: arAlice, Preset: room.PresetPublicChat, Name: ptr("kept"),
		RoomAliasName: "kept", Invite: []string{arBob}})
	for _, r := range []string{doomed, kept} {
		if _, err := f.rooms.Join(ctx, r, arBob, ""); err != nil {
			t.Fatal(err)
		}
		f.fillRoom(t, r)
	}
	if err := f.rooms.Leave(ctx, doomed, arBob, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.rooms.Forget(ctx, doomed, arBob); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetRoomBlock(ctx, doomed, true, arAlice); err != nil {
		t.Fatal(err)
	}
	nid, err := roomNID(reader{ctx: ctx, q: f.es.db.Reader()}, doomed)
	if err != nil {
		t.Fatal(err)
	}
	keptBefore, err := f.store.AdminRoom(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	keptEvents := roomEventCount(t, f.es.db, kept)

	// Before: the check sees the room everywhere it was put.
	before := roomTraces(t, f.es.db, doomed, nid)
	for _, table := range []string{
		"rooms.room_id", "events.room_nid", "current_state_events.room_nid", "room_memberships.room_nid",
		"local_current_membership.room_nid", "event_forward_extremities.room_nid", "receipts.room_nid",
		"threads.room_nid", "event_push_actions.room_nid", "event_relations.room_nid", "event_txn_id.room_nid",
		"room_aliases.room_id", "room_forgotten.room_id", "account_data.room_id",
		"state_groups.room_id", "state_groups_state.room_id",
	} {
		if before[table] == 0 {
			t.Errorf("before the purge, no row of %s names the room: the fixture misses it", table)
		}
	}

	purged, err := f.store.PurgeRoom(ctx, doomed)
	if err != nil {
		t.Fatal(err)
	}
	if purged.Events == 0 || purged.StateGroups == 0 {
		t.Errorf("PurgeRoom = %+v, want events and state groups counted", purged)
	}
	if after := roomTraces(t, f.es.db, doomed, nid); len(after) != 0 {
		t.Errorf("after the purge, rows still name the room: %v", after)
	}
	if _, err := f.store.AdminRoom(ctx, doomed); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("AdminRoom(purged) = %v, want not found", err)
	}
	if _, err := f.store.PurgeRoom(ctx, doomed); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("PurgeRoom twice = %v, want not found", err)
	}
	if b, err := f.store.RoomBlock(ctx, doomed); err != nil || !b.Blocked {
		t.Errorf("RoomBlock after purge = %+v, %v; want still blocked", b, err)
	}

	// The other room is untouched and lives on.
	keptAfter, err := f.store.AdminRoom(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keptBefore, keptAfter); diff != "" {
		t.Errorf("the kept room changed (-before +after):\n%s", diff)
	}
	if n := roomEventCount(t, f.es.db, kept); n != keptEvents {
		t.Errorf("kept room has %d events after the purge, had %d", n, keptEvents)
	}
	f.send(t, kept, arAlice, `{"msgtype":"m.text","body":"still here"}`, nil)
	hits, err := f.es.SearchEvents(ctx, clientsync.SearchQuery{RoomIDs: []string{kept, doomed}, Words: []string{"searchable"},
		Keys: []string{clientsync.KeyBody}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Event.RoomID != kept {
		t.Errorf("search after the purge found %d events, want the kept room's one", len(hits))
	}
}

func roomEventCount(tb testing.TB, db *DB, roomID string) int {
	tb.Helper()
	var n int
	err := db.Reader().QueryRowContext(context.Background(),
		"SELECT count(*) FROM events e JOIN rooms r ON r.room_nid = e.room_nid WHERE r.room_id = ?", roomID).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
