package api

import (
	"embed"
	"net/http"
	"path"
)

// ui holds the dashboard: a page, a script and a style sheet, embedded in the binary (no
// CDN, no build step). They carry no data: every figure comes from the API, with the token
// the user signs in with.
//
//go:embed ui/index.html ui/app.js ui/app.css
var ui embed.FS

var uiTypes = map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

// asset serves one embedded file of the dashboard.
func (a *api) asset(name string) handlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) error {
		body, err := ui.ReadFile("ui/" + name)
		if err != nil {
			return err
		}
		h := w.Header()
		h.Set("Content-Type", uiTypes[path.Ext(name)])
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
		return nil
	}
}

// whoami is GET /whoami: the caller's token name and role (the dashboard shows or hides
// operator buttons by it).
func (a *api) whoami(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, PrincipalOf(r.Context()))
}
