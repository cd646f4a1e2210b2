package appservice

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	core "hearth.dev/hearth/core/appservice"
)

// FuzzRegistration reads arbitrary registration files: LoadFiles either
// refuses one with an error or accepts it, and an accepted service's
// namespaces answer without panicking.
func FuzzRegistration(f *testing.F) {
	f.Add(bridgeYAML)
	f.Add("id: x\nas_token: a\nhs_token: h\nsender_localpart: bot\nnamespaces: {users: [{regex: '(', exclusive: true}]}\n")
	f.Add("id: [1, 2]\n")
	f.Add("namespaces: 5\n")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "r.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		set, err := LoadFiles("example.org", []string{p})
		if err != nil {
			return
		}
		var r core.Registration
		if yaml.Unmarshal([]byte(text), &r) != nil {
			t.Fatalf("LoadFiles accepted YAML that does not decode: %q", text)
		}
		for _, reg := range set.All() {
			reg.IsUser("@a:example.org")
			reg.IsAlias("#a:example.org")
			reg.IsRoom("!a:example.org")
			if set.ByASToken(reg.ASToken) != reg {
				t.Fatalf("the service is not found by its as_token")
			}
		}
	})
}
