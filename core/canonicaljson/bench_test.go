package canonicaljson

import (
	"encoding/json"
	"testing"
)

// messageEvent is a typical m.room.message PDU as it arrives over
// federation: keys out of order, some escapes, a few nested objects.
const messageEvent = `{
  "type": "m.room.message",
  "room_id": "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
  "sender": "@alice:example.org",
  "content": {
    "msgtype": "m.text",
    "body": "Hello, world! Caf\u00e9 \"quoted\" \ud83d\ude00 and a reply",
    "format": "org.matrix.custom.html",
    "formatted_body": "<p>Hello, <b>world</b>!</p>",
    "m.mentions": {"user_ids": ["@bob:example.org"]},
    "m.relates_to": {"m.in_reply_to": {"event_id": "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"}}
  },
  "origin_server_ts": 1755384351627,
  "depth": 122,
  "prev_events": ["$gCzdJUVV93Qory0x7p_PLG5UUiDjPJNe1H12qbHTuFA"],
  "auth_events": ["$gCzdJUVV93Qory0x7p_PLG5UUiDjPJNe1H12qbHTuFA", "$hyeL_nU_L3tsZ2dtZZpAHk0Skv-PqFQIipuII_By584", "$accqGxfvhBvMP4Sf6P7t3WgnaJK6UbonO2ZmwqSE5Sg"],
  "hashes": {"sha256": "IQ0zlc+PXeEs6R3JvRkW3xTPV3zlGKSSd3x07KXGjzs"},
  "signatures": {"example.org": {"ed25519:a_xxeS": "0GDMddL2k7gF4V1VU8sL3wTfhAIzAu5iVH5jeavZ2VEg3J9/tHLWXAOn2tzkLaMRWl0/XpINT2YlH/rd2U21Ag"}},
  "unsigned": {"age_ts": 1755384351627}
}`

func BenchmarkCanonicalizeMessageEvent(b *testing.B) {
	in := []byte(messageEvent)
	buf := make([]byte, 0, 2048)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], in, Strict); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalizeAlreadyCanonical(b *testing.B) {
	in, err := Canonicalize([]byte(messageEvent), Strict)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 2048)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = Append(buf[:0], in, Strict); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodingJSONRoundTrip is the naive approach (decode into any,
// re-encode with sorted map keys) for comparison; it is not canonical
// (HTML escaping, float numbers) and is here only as a yardstick.
func BenchmarkEncodingJSONRoundTrip(b *testing.B) {
	in := []byte(messageEvent)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(in, &v); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}
