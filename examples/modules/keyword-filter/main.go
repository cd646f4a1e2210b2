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
	"encoding/json"
	"strings"

	"hearth.dev/hearth/modules/guest"
)

func main() {}

// words are the configured words, lower-cased; read on first use.
var words []string
var loaded bool

func configured() []string {
	if !loaded {
		var cfg struct {
			Words []string `json:"words"`
		}
		if err := json.Unmarshal(guest.Config(), &cfg); err != nil {
			guest.Log(guest.LevelError, "config: "+err.Error())
		}
		for _, w := range cfg.Words {
			if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
				words = append(words, w)
			}
		}
		loaded = true
	}
	return words
}

//go:wasmexport check_event_for_spam
func checkEventForSpam(ptr, n uint32) uint64 {
	var ev struct {
		Type    string `json:"type"`
		Content struct {
			Body          string `json:"body"`
			FormattedBody string `json:"formatted_body"`
		} `json:"content"`
	}
	if err := json.Unmarshal(guest.Input(ptr, n), &ev); err != nil {
		return guest.Deny("M_BAD_JSON", "unreadable event")
	}
	if ev.Type != "m.room.message" {
		return guest.Allow()
	}
	text := strings.ToLower(ev.Content.Body + "\n" + ev.Content.FormattedBody)
	for _, w := range configured() {
		if strings.Contains(text, w) {
			return guest.Deny("M_FORBIDDEN", "This message contains a word this server does not accept.")
		}
	}
	return guest.Allow()
}
