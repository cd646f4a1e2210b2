package core_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"hearth.dev/hearth/core"
)

// decodeBoth decodes data as a send_join answer token by token (as the
// federation client does: nothing may follow the object) and with
// json.Unmarshal.
func decodeBoth(data []byte) (streamed, whole core.SendJoinResponse, errS, errW error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if errS = streamed.DecodeStream(dec); errS == nil {
		if _, err := dec.Token(); err != io.EOF {
			errS = errors.New("data after the object")
		}
	}
	errW = json.Unmarshal(data, &whole)
	return
}

func TestSendJoinResponseDecodeStream(t *testing.T) {
	data := []byte(`{"origin":"b.test","state":[{"type":"m.room.create","content":{"x":[1,{"y":"}"}]}},{"a":1}],
		"auth_chain":[{"b":2}],"event":{"c":3},"members_omitted":false,"servers_in_room":["b.test"],"extra":{"ignored":[1,2]}}`)
	s, w, errS, errW := decodeBoth(data)
	if errS != nil || errW != nil {
		t.Fatalf("errors: streamed %v, whole %v", errS, errW)
	}
	if len(s.State) != 2 || len(s.AuthChain) != 1 || s.Origin != "b.test" || string(s.Event) != `{"c":3}` {
		t.Fatalf("streamed = %+v", s)
	}
	sj, _ := json.Marshal(s)
	wj, _ := json.Marshal(w)
	if !bytes.Equal(sj, wj) {
		t.Fatalf("streamed %s, whole %s", sj, wj)
	}
	for _, bad := range []string{`[]`, `{"state":{}}`, `{"state":[1,}`, `{"state":[{"a":1}]`, `{"auth_chain":"x"}`, `{"members_omitted":"no"}`} {
		var r core.SendJoinResponse
		if err := r.DecodeStream(json.NewDecoder(bytes.NewReader([]byte(bad)))); err == nil {
			t.Errorf("%s decoded without an error", bad)
		}
	}
	var r core.SendJoinResponse
	if err := r.DecodeStream(json.NewDecoder(bytes.NewReader([]byte(`{"state":null}`)))); err != nil || r.State != nil {
		t.Errorf(`{"state":null}: %v, %v`, r.State, err)
	}
}

// FuzzSendJoinResponseDecodeStream checks that the streaming decoder never
// panics and accepts an answer only when json.Unmarshal accepts it too,
// with the same events.
func FuzzSendJoinResponseDecodeStream(f *testing.F) {
	f.Add([]byte(`{"state":[{"a":1}],"auth_chain":[],"event":{"b":2},"origin":"x"}`))
	f.Add([]byte(`{"state":null,"members_omitted":true,"servers_in_room":["a","b"]}`))
	f.Add([]byte(`{"state":[1,2,"x",[{}]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, w, errS, errW := decodeBoth(data)
		if errS != nil {
			return
		}
		if errW != nil {
			t.Fatalf("streamed accepted %q that json.Unmarshal refuses: %v", data, errW)
		}
		if len(s.State) != len(w.State) || len(s.AuthChain) != len(w.AuthChain) {
			t.Fatalf("%q: streamed %d/%d events, whole %d/%d", data, len(s.State), len(s.AuthChain), len(w.State), len(w.AuthChain))
		}
	})
}
