package hearth

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/metrics"
	"hearth.dev/hearth/modules"
	"hearth.dev/hearth/storage"
)

// loadModules compiles and checks the configured modules (nil without
// any): one error line per bad module refuses the start. Natively their
// compiled code is kept in the data folder, so a restart does not compile
// them again. state answers the modules' state_event once the database is
// open.
func loadModules(ctx context.Context, cfg Config, oo OpenOptions, state *moduleState) (*modules.Host, error) {
	specs, err := cfg.ModuleSpecs()
	if err != nil || len(specs) == 0 {
		return nil, err
	}
	opts := modules.Options{State: state, Logger: oo.Logger}
	if oo.VFS == "" {
		opts.CacheDir = filepath.Join(cfg.DataDir, "module-cache")
	}
	h, err := modules.Load(ctx, specs, opts)
	if err != nil {
		return nil, err
	}
	log := oo.Logger
	if log == nil {
		log = slog.Default()
	}
	for _, m := range h.ModuleInfo() {
		log.Info("module loaded", "module", m.Name, "path", m.Path, "callbacks", m.Callbacks, "on_error", m.OnError)
	}
	return h, nil
}

// moduleState reads rooms' current state for the modules; events is set
// once the database is open, before anything is served.
type moduleState struct{ events *storage.EventStore }

func (s *moduleState) StateEvent(ctx context.Context, roomID, eventType, stateKey string) (json.RawMessage, error) {
	if s.events == nil {
		return nil, core.ErrNotFound
	}
	st, err := s.events.CurrentState(ctx, roomID, core.StateFilter{Types: map[string][]string{eventType: {stateKey}}})
	if err != nil {
		return nil, err
	}
	id, ok := st[core.StateKey{Type: eventType, StateKey: stateKey}]
	if !ok {
		return nil, core.ErrNotFound
	}
	ev, err := s.events.Event(ctx, id)
	if err != nil {
		return nil, err
	}
	return modules.WithEventID(ev.EventID, ev.JSON), nil
}

// registerModuleMetrics counts the modules' calls and failures, by module
// and callback.
func (hs *Homeserver) registerModuleMetrics(reg *metrics.Registry) {
	count := func(failures bool) func(context.Context) ([]metrics.Sample, error) {
		return func(context.Context) ([]metrics.Sample, error) {
			var out []metrics.Sample
			for _, m := range hs.modules.ModuleInfo() {
				by := m.CallsBy
				if failures {
					by = m.FailuresBy
				}
				for _, cb := range m.Callbacks {
					out = append(out, metrics.Sample{Labels: []metrics.Label{{Name: "module", Value: m.Name}, {Name: "callback", Value: cb}},
						Value: float64(by[cb])})
				}
			}
			return out, nil
		}
	}
	reg.Counter("hearth_module_calls_total", "Calls of the modules' callbacks.", count(false))
	reg.Counter("hearth_module_failures_total", "Calls of the modules' callbacks that trapped, timed out or answered garbage.", count(true))
}
