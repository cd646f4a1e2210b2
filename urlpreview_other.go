//go:build !js

package hearth

import (
	"log/slog"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/urlpreview"
	"hearth.dev/hearth/web"
)

// newURLPreviews builds the URL previewer when media.url_preview is on, and
// returns nil when it is off.
func newURLPreviews(cfg *Config, serverName string, media core.MediaStore, log *slog.Logger) (web.URLPreviewer, error) {
	if !cfg.URLPreview() {
		return nil, nil
	}
	p, err := urlpreview.New(urlpreview.Config{ServerName: serverName, Media: media,
		AllowPrivate: cfg.Media.URLPreviewAllowPrivate == "true", Logger: log})
	if err != nil {
		return nil, err
	}
	return p, nil
}
