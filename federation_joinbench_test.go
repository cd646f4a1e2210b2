package hearth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/federation"
)

// bigRoom is a resident server, big.test, answering the federation
// requests of a remote join (its keys, make_join, send_join) for a room
// whose state holds members events; its events are signed with its own
// key, so the joining server checks every one as it would a real peer's.
type bigRoom struct {
	key      signing.Key
	roomID   string
	template []byte // make_join's answer
	sendJoin []byte // send_join's answer, encoded once
}

func newBigRoom(tb testing.TB, members int) *bigRoom {
	tb.Helper()
	const server = "big.test"
	v, _ := roomversion.Lookup("10")
	key, err := signing.GenerateKey("big")
	if err != nil {
		tb.Fatal(err)
	}
	r := &bigRoom{key: key, roomID: "!big:" + server}
	creator := "@creator:" + server
	ts := time.Now().UnixMilli()
	depth := int64(0)
	var last string
	mk := func(sender, typ, stateKey, content string, auth []string) (string, json.RawMessage) {
		depth++
		ev := &pdu.PDU{RoomID: r.roomID, Sender: sender, Type: typ, StateKey: &stateKey, Content: json.RawMessage(content),
			OriginServerTS: ts, Depth: depth, AuthEvents: auth, PrevEvents: []string{}}
		if last != "" {
			ev.PrevEvents = []string{last}
		}
		if err := signing.SignEvent(v, ev, server, key.ID, key.Private); err != nil {
			tb.Fatal(err)
		}
		id, err := ev.ComputeEventID(v)
		if err != nil {
			tb.Fatal(err)
		}
		raw, err := ev.MarshalFor(v)
		if err != nil {
			tb.Fatal(err)
		}
		last = id
		return id, raw
	}
	create, createRaw := mk(creator, "m.room.create", "", `{"room_version":"10","creator":"`+creator+`"}`, []string{})
	cj, cjRaw := mk(creator, "m.room.member", creator, `{"membership":"join"}`, []string{create})
	pl, plRaw := mk(creator, "m.room.power_levels", "", `{"users":{"`+creator+`":100}}`, []string{create, cj})
	jr, jrRaw := mk(creator, "m.room.join_rules", "", `{"join_rule":"public"}`, []string{create, cj, pl})
	chain := []json.RawMessage{createRaw, cjRaw, plRaw, jrRaw}
	state := append([]json.RawMessage(nil), chain...)
	for i := range members - len(chain) {
		user := "@u" + strconv.Itoa(i) + ":" + server
		_, raw := mk(user, "m.room.member", user, `{"membership":"join","displayname":"Member `+strconv.Itoa(i)+`"}`, []string{create, pl, jr})
		state = append(state, raw)
	}
	r.template, _ = json.Marshal(map[string]any{"room_version": "10", "event": map[string]any{
		"type": "m.room.member", "room_id": r.roomID, "state_key": "@alice:a.test", "sender": "@alice:a.test",
		"content": map[string]any{"membership": "join"}, "auth_events": []string{create, pl, jr},
		"prev_events": []string{last}, "depth": depth + 1, "origin": "a.test", "origin_server_ts": ts,
	}})
	r.sendJoin, _ = json.Marshal(map[string]any{"state": state, "auth_chain": chain, "origin": server})
	return r
}

func (r *bigRoom) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	p := req.URL.Path
	switch {
	case strings.HasPrefix(p, "/_matrix/key/v2/server"):
		body, _ := federation.SignedServerKeys("big.test", r.key, time.Now())
		w.Write(body)
	case strings.HasPrefix(p, "/_matrix/federation/v1/make_join/"):
		w.Write(r.template)
	case strings.HasPrefix(p, "/_matrix/federation/v2/send_join/"):
		w.Write(r.sendJoin)
	case strings.HasPrefix(p, "/_matrix/federation/v1/send/"):
		w.Write([]byte(`{"pdus":{}}`))
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"not served by this benchmark"}`))
	}
}

// BenchmarkRemoteJoin10k measures joining a remote room whose state
// holds 10,000 events through hearth's client API (POST /join with
// server_name): make_join, send_join over HTTP on loopback, every event
// checked (signature, hash, auth) and stored, a state group made of the
// state. It reports the peak resident set of the process during the
// join (Linux; the peak is reset before it), and how much of it the
// join added over the resident set before.
func BenchmarkRemoteJoin10k(b *testing.B) {
	room := newBigRoom(b, 10000)
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	big := httptest.NewServer(room)
	b.Cleanup(big.Close)
	n.hosts["big.test"] = big.URL
	var peak, added float64
	for b.Loop() {
		b.StopTimer()
		a := n.openWrapped(b, "a.test", "alice", nil)
		runtime.GC()
		before := resetPeakRSS()
		b.StartTimer()
		out := a.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(room.roomID)+"?server_name=big.test", a.token, map[string]any{})
		b.StopTimer()
		if out["room_id"] != room.roomID {
			b.Fatalf("join answered %v", out)
		}
		status, members := a.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(room.roomID)+"/joined_members", a.token, nil)
		if joined, _ := members["joined"].(map[string]any); status != http.StatusOK || len(joined) != 10000-4+2 {
			b.Fatalf("joined_members = %d with %d members, want %d", status, len(joined), 10000-4+2)
		}
		if hwm := peakRSS(); hwm > 0 {
			peak = max(peak, float64(hwm)/(1<<20))
			added = max(added, float64(hwm-before)/(1<<20))
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(len(room.sendJoin))/(1<<20), "MiB-send_join")
	if peak > 0 {
		b.ReportMetric(peak, "MiB-peak-RSS")
		b.ReportMetric(added, "MiB-RSS-added")
	}
}

// resetPeakRSS resets the process's peak resident set (Linux: writing 5
// to /proc/self/clear_refs) and returns the resident set now, in bytes;
// 0 where the system does not tell.
func resetPeakRSS() int64 {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return 0
	}
	return procStatus("VmRSS:")
}

// peakRSS returns the peak resident set since the last reset, in bytes.
func peakRSS() int64 { return procStatus("VmHWM:") }

func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(field)); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(string(rest)), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
