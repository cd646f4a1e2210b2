//go:build wasip1

// Command keyword-filter is a hearth module (docs/modules.md) that refuses
// messages whose body contains one of the configured words, with
// M_FORBIDDEN. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o keyword-filter.wasm ./examples/modules/keyword-filter
//
// and configure it with
//
//	modules:
//	  - path: keyword-filter.wasm
//	    config: {words: [spam, casino]}
//
// Words match case-insensitively anywhere in content.body (and
// content.formatted_body) of m.room.message events.
package main

import (
	"bytes"
	"encoding/json"
	"strings"

	"hearth.dev/hearth/modules/guest"
)

func main() {}

// words are the configured words, lower-cased; read on first use.
// plainWords is whether they are all plain ASCII.
var (
	words      []string
	plainWords bool
	loaded     bool
)

func configured() []string {
	if !loaded {
		var cfg struct {
			Words []string `json:"words"`
		}
		if err := json.Unmarshal(guest.Config(), &cfg); err != nil {
			guest.Log(guest.LevelError, "config: "+err.Error())
		}
		plainWords = true
		for _, w := range cfg.Words {
			if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
				words = append(words, w)
				// The quick path sees words of ASCII that JSON writes
				// as they are.
				for i := 0; i < len(w); i++ {
					if w[i] >= 0x80 || w[i] < 0x20 || w[i] == '"' || w[i] == '\\' {
						plainWords = false
					}
				}
			}
		}
		loaded = true
	}
	return words
}

//go:wasmexport check_event_for_spam
func checkEventForSpam(ptr, n uint32) uint64 {
	ev := guest.Input(ptr, n)
	words := configured()
	if len(words) == 0 {
		return guest.Allow()
	}
	// The quick answer: an event of ASCII without a backslash holds its
	// body's text as it is, so when none of the words is anywhere in it,
	// none is in the body. Loops are what costs in a module (the host
	// checks its time cap at each), so this is one pass and a search.
	if plainWords {
		if lowered, ok := lowerPlainASCII(ev); ok && !containsAny(lowered, words) {
			return guest.Allow()
		}
	}
	// The exact answer: the fields themselves.
	// guest.StringField reads them without decoding the whole event
	// (encoding/json would cost most of the call).
	if typ, _ := guest.StringField(ev, "type"); typ != "m.room.message" {
		return guest.Allow()
	}
	body, _ := guest.StringField(ev, "content", "body")
	formatted, _ := guest.StringField(ev, "content", "formatted_body")
	for _, w := range words {
		if containsFold(body, w) || containsFold(formatted, w) {
			return guest.Deny("M_FORBIDDEN", "This message contains a word this server does not accept.")
		}
	}
	return guest.Allow()
}

func containsAny(b []byte, words []string) bool {
	for _, w := range words {
		if bytes.Contains(b, []byte(w)) {
			return true
		}
	}
	return false
}

// lowerBuf is lowerPlainASCII's buffer, kept between calls.
var lowerBuf []byte

// lowerPlainASCII returns b in lower case when it is ASCII without a
// backslash (ok false otherwise).
func lowerPlainASCII(b []byte) ([]byte, bool) {
	if cap(lowerBuf) < len(b) {
		lowerBuf = make([]byte, len(b))
	}
	out := lowerBuf[:len(b)]
	for i, c := range b {
		if c >= 0x80 || c == '\\' {
			return nil, false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out, true
}

// containsFold reports whether s contains the lower-case word w, ignoring
// case.
func containsFold(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	if isASCII(s) {
		for i := 0; i+len(w) <= len(s); i++ {
			if asciiEqualFold(s[i:i+len(w)], w) {
				return true
			}
		}
		return false
	}
	return strings.Contains(strings.ToLower(s), w)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func asciiEqualFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
