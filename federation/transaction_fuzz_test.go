package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/signing"
)

// FuzzSendTransaction sends arbitrary bodies, correctly signed, to PUT
// /send: the answer is a Matrix answer (200 with a pdus object, or a 4xx
// or 503 Matrix error), never a 500 or a panic, and a 200 is replayed
// identically for the same transaction ID.
func FuzzSendTransaction(f *testing.F) {
	f.Add([]byte(`{"origin":"a.test","origin_server_ts":1,"pdus":[],"edus":[]}`))
	f.Add([]byte(`{"edus":[{"edu_type":"m.typing","content":{"room_id":"!joined:b.test","user_id":"@u:a.test","typing":true}}]}`))
	f.Add([]byte(`{"edus":[{"edu_type":"m.receipt","content":{"!joined:b.test":{"m.read":{"@u:a.test":{"event_ids":["$e"],"data":{"ts":1}}}}}}]}`))
	f.Add([]byte(`{"edus":[{"edu_type":"m.direct_to_device","content":{"sender":"@u:a.test","type":"t","message_id":"m","messages":{"@x:b.test":{"*":{}}}}}]}`))
	f.Add([]byte(`{"edus":[{"edu_type":"m.presence","content":{"push":[{"user_id":"@u:a.test","presence":"online"}]}}]}`))
	f.Add([]byte(`{"pdus":[{"type":"m.room.message"}]}`))
	f.Add([]byte(`{"pdus":{}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"edus":[{"edu_type":5}]}`))

	key, err := signing.GenerateKey("k1")
	if err != nil {
		f.Fatal(err)
	}
	store := newMemKeyStore()
	store.StoreRemoteServerKeys(context.Background(), "a.test", []byte(`{}`), time.Now().Add(time.Hour).UnixMilli(),
		[]core.RemoteServerKey{{ServerName: "a.test", KeyID: key.ID, Key: key.Public(), ValidUntilTS: time.Now().Add(time.Hour).UnixMilli()}})
	bKey, _ := signing.GenerateKey("b1")
	ring := NewKeyRing(KeyRingOptions{ServerName: "b.test", Key: bKey, Store: store, Client: &Client{ServerName: "b.test", Key: bKey, Transport: &loopback{}}})
	srv, err := NewServer(ServerOptions{ServerName: "b.test", Version: "test", KeyRing: ring, Txns: &memTxnStore{},
		PDUs: &fakePDUs{}, EDUs: EDUServices{Typing: &fakeTyping{}, IsJoined: func(ctx context.Context, userID, roomID string) (bool, error) {
			return roomID == "!joined:b.test", nil
		}}})
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	send := func(t *testing.T, path string, body []byte) *httptest.ResponseRecorder {
		x, err := SignRequest("a.test", "b.test", key, "PUT", path, body)
		if err != nil {
			return nil // not JSON: cannot be signed, so cannot reach the handler signed
		}
		req := httptest.NewRequest("PUT", path, bytes.NewReader(body))
		req.Header.Set("Authorization", x.String())
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n++
		path := "/_matrix/federation/v1/send/fuzz" + strconv.Itoa(n)
		rec := send(t, path, body)
		if rec == nil {
			return
		}
		var e struct {
			ErrCode string          `json:"errcode"`
			PDUs    json.RawMessage `json:"pdus"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("answer %d is not JSON: %s", rec.Code, rec.Body)
		}
		switch {
		case rec.Code == http.StatusOK:
			if len(e.PDUs) == 0 || e.PDUs[0] != '{' {
				t.Fatalf("200 without a pdus object: %s", rec.Body)
			}
			again := send(t, path, body)
			if again.Code != 200 || !bytes.Equal(again.Body.Bytes(), rec.Body.Bytes()) {
				t.Fatalf("replay: %d %s, first %s", again.Code, again.Body, rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500 || rec.Code == 503:
			if e.ErrCode == "" {
				t.Fatalf("%d without an errcode: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
