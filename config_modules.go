package hearth

import (
	"fmt"
	"time"

	"hearth.dev/hearth/modules"
)

// ModuleConfig is one entry of modules: a WebAssembly module and its
// settings (docs/modules.md).
type ModuleConfig struct {
	// Path is the module's .wasm file.
	Path string `yaml:"path"`
	// Name names it in logs, metrics and the admin API (empty: the file
	// name without .wasm).
	Name string `yaml:"name"`
	// Config is handed to the module as JSON.
	Config any `yaml:"config"`
	// OnError is what a check answers when the module fails: deny (the
	// default) or allow.
	OnError string `yaml:"on_error"`
	// MemoryPages caps the module's memory, in 64 KiB pages (0: 1024).
	MemoryPages uint32 `yaml:"memory_pages"`
	// Timeout caps one call, as a Go duration ("250ms"; empty: 1s).
	Timeout string `yaml:"timeout"`
	// Wasm is the module's code, for hosts without files (the browser
	// build); Path then only names it.
	Wasm []byte `yaml:"-"`
}

// ModuleSpecs are the modules to load: the modules: list, then the paths
// of module (HEARTH_MODULES, --module), which have no config.
func (c *Config) ModuleSpecs() ([]modules.Spec, error) {
	var out []modules.Spec
	for i, m := range c.Modules {
		if m.Path == "" && m.Wasm == nil {
			return nil, fmt.Errorf("config: modules[%d] has no path", i)
		}
		var timeout time.Duration
		if m.Timeout != "" {
			d, err := time.ParseDuration(m.Timeout)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("config: modules[%d].timeout is %q; it must be a duration like 250ms", i, m.Timeout)
			}
			timeout = d
		}
		if m.OnError != "" && m.OnError != modules.OnErrorAllow && m.OnError != modules.OnErrorDeny {
			return nil, fmt.Errorf("config: modules[%d].on_error is %q; it must be one of allow, deny", i, m.OnError)
		}
		out = append(out, modules.Spec{Name: m.Name, Path: m.Path, Wasm: m.Wasm, Config: m.Config,
			OnError: m.OnError, MemoryPages: m.MemoryPages, Timeout: timeout})
	}
	for _, p := range c.ModulePaths.Paths() {
		out = append(out, modules.Spec{Path: p})
	}
	return out, nil
}
