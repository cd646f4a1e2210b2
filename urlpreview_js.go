package hearth

import (
	"errors"
	"log/slog"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/web"
)

// newURLPreviews refuses media.url_preview in the browser build: a tab
// cannot fetch other sites' pages (the browser's CORS rules stop it), so the
// previewer and its HTML parser stay out of the wasm.
func newURLPreviews(cfg *Config, _ string, _ core.MediaStore, _ *slog.Logger) (web.URLPreviewer, error) {
	if !cfg.URLPreview() {
		return nil, nil
	}
	return nil, errors.New("media.url_preview: URL previews are not available in the browser build")
}
