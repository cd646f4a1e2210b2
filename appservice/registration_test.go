package appservice

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A registration as mautrix and matrix-appservice-bridge write them.
const bridgeYAML = `id: echo
url: http://127.0.0.1:29333
as_token: "wfghWEGh3wgWHEf3478sHFWE"
hs_token: 1234567890
sender_localpart: _echo_bot
rate_limited: false
protocols: ["echo"]
receive_ephemeral: true
de.sorunome.msc2409.push_ephemeral: true
namespaces:
  users:
    - exclusive: true
      regex: '@_echo_.*:example\.org'
  aliases:
    - exclusive: false
      regex: '#_echo_.*:example\.org'
  rooms: []
`

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFilesReadsSynapseRegistrations(t *testing.T) {
	set, err := LoadFiles("example.org", []string{write(t, "echo.yaml", bridgeYAML)})
	if err != nil {
		t.Fatal(err)
	}
	r := set.ByASToken("wfghWEGh3wgWHEf3478sHFWE")
	if r == nil {
		t.Fatal("the service is not found by its as_token")
	}
	if r.ID != "echo" || r.HSToken != "1234567890" || r.Sender != "@_echo_bot:example.org" || r.IsRateLimited() ||
		!r.WantsEphemeral() || len(r.Protocols) != 1 || r.Protocols[0] != "echo" {
		t.Errorf("registration read as %+v", r)
	}
	if !r.ExclusiveUser("@_echo_alice:example.org") || !r.IsAlias("#_echo_x:example.org") || r.ExclusiveAlias("#_echo_x:example.org") {
		t.Errorf("namespaces read wrong: %+v", r.Namespaces)
	}
}

func TestLoadFilesNamesEveryBadFile(t *testing.T) {
	good := write(t, "echo.yaml", bridgeYAML)
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	notYAML := write(t, "broken.yaml", "id: [unclosed\n")
	twin := write(t, "twin.yaml", strings.Replace(bridgeYAML, "_echo_bot", "_twin_bot", 1)) // same id and tokens
	_, err := LoadFiles("example.org", []string{good, missing, notYAML, twin})
	if err == nil {
		t.Fatal("LoadFiles accepted bad files")
	}
	msg := err.Error()
	for _, p := range []string{missing, notYAML, twin} {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not name %s", msg, p)
		}
	}
	if strings.Contains(msg, "application service "+good+":") {
		t.Errorf("error %q blames the good file", msg)
	}
	if n := strings.Count(msg, "\n") + 1; n != 3 {
		t.Errorf("error has %d lines, want 3 (one per bad file): %q", n, msg)
	}
}
