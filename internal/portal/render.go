package portal

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// pages holds one template set per page: the layout plus the page's own file.
type pages struct {
	sets map[string]*template.Template
}

// view is what every page template receives.
type view struct {
	Title   string
	S       *session
	Vault   *Vault // the vault the page belongs to, for the vault menu; nil outside a vault
	Nav     string // the active menu entry
	Notice  string // a success message
	Error   string // an error message (from the API, as is)
	Refresh string // the refresh interval of self-updating tables, as htmx reads it ("5s")
	Now     time.Time
	Data    any
}

// Can reports whether the signed-in user's role may do action (see roles.go).
func (v *view) Can(action string) bool { return v.S != nil && can(v.S.Role, action) }

func parsePages(fsys fs.FS) (*pages, error) {
	files, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"ago":      ago,
		"dur":      duration,
		"pct":      func(f float64) string { return fmt.Sprintf("%.0f %%", f) },
		"pct1":     func(f float64) string { return fmt.Sprintf("%.1f %%", f) },
		"bytes":    humanBytes,
		"when":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"whenp":    whenPtr,
		"health":   healthClass,
		"state":    stateLabel,
		"stateCls": stateClass,
		"minutes":  func(s int64) int64 { return s / 60 },
		"hours":    func(s int64) int64 { return s / 3600 },
		"join":     strings.Join,
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(fsys, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		p.sets[name] = t
	}
	return p, nil
}

// render writes page (the whole layout) or, when block is not "", one block of it (an htmx
// partial).
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, page, block string, v *view) {
	t, ok := p.pages.sets[page]
	if !ok {
		p.log.Error("portal: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if block == "" {
		block = "layout"
	}
	v.Refresh = fmt.Sprintf("%ds", int(p.cfg.RefreshInterval/time.Second))
	v.Now = p.clock.Now()
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		p.log.Error("portal: render", "page", page, "block", block, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Fragments that refresh themselves are compressed: a table of 1,000 items is 400 KiB of
	// HTML every 5 s. They carry no CSRF token and reflect no input, so compression reveals no
	// secret (BREACH); whole pages, which carry the token, are sent as they are, and so is a
	// fragment that would carry it.
	if block != "layout" && buf.Len() > 512 && acceptsGzip(r) && (v.S == nil || !bytes.Contains(buf.Bytes(), []byte(v.S.CSRF))) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		w.WriteHeader(status)
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		zw.Write(buf.Bytes())
		zw.Close()
		return
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// acceptsGzip reports whether the client takes gzip-encoded answers.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// fail shows err: an API error with the API's status and message, anything else as an internal
// error (logged, not shown in detail).
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusUnauthorized {
			setCookie(w, sessionCookie, "", -1)
			p.toLogin(w, r)
			return
		}
		p.failStatus(w, r, s, ae.Status, ae.Message)
		return
	}
	p.log.Error("portal: request failed", "path", r.URL.Path, "err", err)
	p.failStatus(w, r, s, http.StatusInternalServerError, "the portal could not complete this request: see the vault service's log")
}

// failStatus shows msg on the error page with status.
func (p *Portal) failStatus(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	if r.Header.Get("HX-Request") == "true" {
		// A partial refresh: replace the fragment with the message.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<p class="error" role="alert">%s</p>`, template.HTMLEscapeString(msg))
		return
	}
	p.render(w, r, status, "error", "", &view{Title: http.StatusText(status), S: s, Error: msg})
}

// ago says how long ago t was, in the coarsest unit that fits.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "just now"
	}
	return duration(int64(d/time.Second)) + " ago"
}

// whenPtr formats an optional time.
func whenPtr(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// duration formats whole seconds as "45 s", "12 min", "3 h 5 min", "2 d 4 h".
func duration(s int64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d min", s/60)
	case s < 86400:
		if m := (s % 3600) / 60; m != 0 {
			return fmt.Sprintf("%d h %d min", s/3600, m)
		}
		return fmt.Sprintf("%d h", s/3600)
	default:
		if h := (s % 86400) / 3600; h != 0 {
			return fmt.Sprintf("%d d %d h", s/86400, h)
		}
		return fmt.Sprintf("%d d", s/86400)
	}
}

// humanBytes formats a byte count in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
