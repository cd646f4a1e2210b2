package hearth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestModulesConfig reads modules: from YAML and HEARTH_MODULES, and
// refuses bad entries with the key named.
func TestModulesConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hearth.yaml")
	yaml := `modules:
  - path: /srv/keyword-filter.wasm
    config: {words: [casino, "crypto giveaway"], nested: {n: 3}}
    on_error: allow
    memory_pages: 256
    timeout: 250ms
  - path: /srv/invite-policy.wasm
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if err := cfg.LoadConfigFile(file); err != nil {
		t.Fatal(err)
	}
	cfg.LoadEnv(func(k string) (string, bool) {
		if k == "HEARTH_MODULES" {
			return "/srv/a.wasm,/srv/b.wasm", true
		}
		return "", false
	})
	specs, err := cfg.ModuleSpecs()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, s := range specs {
		paths = append(paths, s.Path)
	}
	if got := strings.Join(paths, ","); got != "/srv/keyword-filter.wasm,/srv/invite-policy.wasm,/srv/a.wasm,/srv/b.wasm" {
		t.Fatalf("module paths = %s", got)
	}
	kf := specs[0]
	if kf.OnError != "allow" || kf.MemoryPages != 256 || kf.Timeout != 250*time.Millisecond {
		t.Fatalf("keyword-filter spec = %+v", kf)
	}
	words := kf.Config.(map[string]any)["words"].([]any)
	if len(words) != 2 || words[1] != "crypto giveaway" {
		t.Fatalf("config = %#v", kf.Config)
	}
	if specs[1].Config != nil || specs[2].Config != nil {
		t.Fatalf("modules without config got %v, %v", specs[1].Config, specs[2].Config)
	}

	for _, c := range []struct {
		m    ModuleConfig
		want string
	}{
		{ModuleConfig{Path: "x.wasm", Timeout: "soon"}, "modules[0].timeout"},
		{ModuleConfig{Path: "x.wasm", OnError: "maybe"}, "modules[0].on_error"},
		{ModuleConfig{}, "modules[0] has no path"},
	} {
		bad := DefaultConfig()
		bad.DataDir = t.TempDir()
		bad.Modules = []ModuleConfig{c.m}
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", c.m, err, c.want)
		}
	}
}
