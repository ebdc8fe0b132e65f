package portal

import (
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// apiPrefix is where the REST API lives; the portal calls it in-process under this path.
const apiPrefix = "/api/v1"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config holds the portal's settings. The zero value is valid.
type Config struct {
	// RefreshInterval is how often tables that change by themselves (replicated items, jobs) are
	// refreshed in the browser. Zero means 5 s.
	RefreshInterval time.Duration
}

// Deps are what the portal talks to.
type Deps struct {
	// API is the vault's REST API handler (serving /api/v1/...). The portal sends every request
	// to it in-process with the signed-in user's token, so the API enforces roles and writes the
	// audit log exactly as for any other client. Required.
	API http.Handler
	// Clock tells the time (RPO health, "ago" columns). Nil means the real clock.
	Clock clock.Clock
	// Logger receives errors that are not the user's (templates, unexpected API answers). Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Portal is the web portal: server-rendered pages over the REST API.
type Portal struct {
	cfg    Config
	api    *caller
	clock  clock.Clock
	log    *slog.Logger
	pages  *pages
	static fs.FS
	mux    *http.ServeMux
}

// New returns a portal that calls deps.API.
func New(cfg Config, deps Deps) (*Portal, error) {
	if deps.API == nil {
		return nil, errors.New("portal needs the API handler")
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 5 * time.Second
	}
	if cfg.RefreshInterval < time.Second {
		return nil, errors.New("refresh interval must be at least 1s")
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	pg, err := parsePages(templateFS)
	if err != nil {
		return nil, err
	}
	st, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	p := &Portal{cfg: cfg, api: &caller{api: deps.API}, clock: deps.Clock, log: deps.Logger, pages: pg, static: st}
	p.mux = p.routes()
	return p, nil
}

// Handler serves the portal. Mount it at "/" next to the API at /api/v1 (the portal serves no
// path under /api/).
func (p *Portal) Handler() http.Handler { return securityHeaders(p.mux) }

// securityHeaders sets the headers every portal answer carries: a strict content security
// policy (everything from this origin, no inline script or style), no framing, no sniffing, a
// referrer only within the portal.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
