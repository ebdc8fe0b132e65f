package installrepo

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"text/template"
	"time"
)

// Prefix is where the configuration server serves the repository.
const Prefix = "/agents/"

// Handler serves the repository under Prefix: SHA256SUMS, install.sh and each build (checked
// against SHA256SUMS as it is opened; a damaged build is answered with 500 and never sent). Mount
// it on the configuration server's HTTPS mux: mux.Handle(installrepo.Prefix, repo.Handler(log)).
func (r *Repo) Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(req.URL.Path, Prefix)
		switch name {
		case SumsFile:
			sums, err := r.Sums()
			if err != nil {
				log.ErrorContext(req.Context(), "install repository", "err", err)
				http.Error(w, "the install repository's checksum list is damaged", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			http.ServeContent(w, req, SumsFile, time.Time{}, bytes.NewReader(FormatSums(sums)))
			return
		case "install.sh":
			var b bytes.Buffer
			if err := installScript.Execute(&b, map[string]string{"Base": "https://" + req.Host + strings.TrimSuffix(Prefix, "/")}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/x-shellscript; charset=utf-8")
			http.ServeContent(w, req, "install.sh", time.Time{}, bytes.NewReader(b.Bytes()))
			return
		}
		for _, p := range Platforms() {
			if name != p.Path() {
				continue
			}
			b, err := r.Open(req.Context(), p)
			if errors.Is(err, ErrNoBuild) {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			if err != nil {
				log.ErrorContext(req.Context(), "install repository", "err", err)
				http.Error(w, "the build is damaged on the configuration server; see its log", http.StatusInternalServerError)
				return
			}
			defer b.File.Close()
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("X-Checksum-Sha256", b.SHA256)
			http.ServeContent(w, req, p.Path(), time.Time{}, b.File)
			return
		}
		http.NotFound(w, req)
	})
}

// The install script: detects the platform, downloads the build and SHA256SUMS, checks the
// checksum (and the one given with --sha256, which the operator copies from
// `osr mobility repo list` on the configuration server), installs the binary and runs
// `osr mobility install` with the remaining arguments. Exit codes: 0 installed, 3 unsupported
// platform, 4 download failed, 5 checksum mismatch (nothing installed), else that of osr.
var installScript = template.Must(template.New("install.sh").Parse(`#!/bin/sh
# osr mobility service: manual installation from the configuration server's install repository.
#   curl -fsS --cacert CA.pem {{.Base}}/install.sh | sh -s -- [--sha256 HEX] [--] INSTALL-FLAGS...
# INSTALL-FLAGS are those of "osr mobility install" (--config-server, --passphrase-file, --disk, ...).
# OSR_PREFIX installs under another root (default /); OSR_CURL adds options to curl (e.g. --cacert).
set -eu
base='{{.Base}}'
prefix="${OSR_PREFIX:-}"
want=''
if [ "${1:-}" = "--sha256" ]; then want="$2"; shift 2; fi
if [ "${1:-}" = "--" ]; then shift; fi
case "$(uname -sm)" in
  "Linux x86_64") plat=linux-amd64 ;;
  "Linux aarch64"|"Linux arm64") plat=linux-arm64 ;;
  *) echo "osr install: unsupported platform $(uname -sm): Linux on x86_64 or aarch64 only" >&2; exit 3 ;;
esac
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fetch() { curl -fsS ${OSR_CURL:-} -o "$2" "$base/$1" || { echo "osr install: download of $base/$1 failed" >&2; exit 4; }; }
fetch SHA256SUMS "$tmp/SHA256SUMS"
fetch "$plat/osr" "$tmp/osr"
listed="$(awk -v p="$plat/osr" '$2 == p || $2 == "*" p { print $1 }' "$tmp/SHA256SUMS")"
got="$(sha256sum "$tmp/osr" | awk '{ print $1 }')"
if [ -z "$listed" ] || [ "$got" != "$listed" ]; then
  echo "osr install: checksum mismatch for $plat/osr: got $got, SHA256SUMS says ${listed:-nothing}; nothing was installed" >&2; exit 5
fi
if [ -n "$want" ] && [ "$got" != "$want" ]; then
  echo "osr install: checksum mismatch for $plat/osr: got $got, expected $want; nothing was installed" >&2; exit 5
fi
mkdir -p "$prefix/opt/osr/bin"
chmod 0755 "$tmp/osr"
mv -f "$tmp/osr" "$prefix/opt/osr/bin/osr"
echo "osr install: $plat build $got installed in $prefix/opt/osr/bin/osr"
exec "$prefix/opt/osr/bin/osr" mobility install "$@"
`))
