package main

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"strings"

	"hearth.dev/hearth"
)

// configFlags registers --config and one flag per configuration key on fs,
// and returns a function that builds the configuration once fs is parsed:
// defaults, then the file, then HEARTH_* variables, then the flags given.
func configFlags(fs *flag.FlagSet) func() (hearth.Config, error) {
	path := fs.String("config", "", "YAML configuration file")
	var scratch hearth.Config
	given := map[string]*string{}
	for _, k := range scratch.ConfigKeys() {
		v := new(string)
		given[k.Name] = v
		fs.Func(k.Flag(), k.Usage, func(s string) error { *v = s; return nil })
	}
	var appServices, modules []string
	fs.Func("module", "a WebAssembly module (.wasm) to load without config; repeat for more, added to modules",
		func(s string) error { modules = append(modules, s); return nil })
	fs.Func("app-service", "an application service registration file (YAML); repeat for more, added to app_services",
		func(s string) error { appServices = append(appServices, s); return nil })
	return func() (hearth.Config, error) {
		cfg := hearth.DefaultConfig()
		if *path != "" {
			if err := cfg.LoadConfigFile(*path); err != nil {
				return cfg, err
			}
		}
		cfg.LoadEnv(os.LookupEnv)
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, k := range cfg.ConfigKeys() {
			if set[k.Flag()] {
				*k.Value = *given[k.Name]
			}
		}
		if len(modules) > 0 {
			cfg.ModulePaths = hearth.PathList(strings.Join(append(cfg.ModulePaths.Paths(), modules...), ","))
		}
		if len(appServices) > 0 {
			cfg.AppServices = hearth.PathList(strings.Join(append(cfg.AppServices.Paths(), appServices...), ","))
		}
		return cfg, cfg.Validate()
	}
}

// newLogger logs text lines to w at the configured level.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
