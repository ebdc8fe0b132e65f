package installrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// FetchOptions say what to download from a configuration server's repository.
type FetchOptions struct {
	BaseURL  string // https://HOST[:PORT]/agents
	Platform Platform
	SHA256   string       // the checksum the operator expects (from the configuration server); optional
	Client   *http.Client // carries the TLS trust (the vault's root CA); required
	Dest     string       // where the binary is installed (mode 0755), replaced atomically
}

// ErrChecksum is wrapped when a download does not match its checksum.
var ErrChecksum = errors.New("checksum mismatch")

// Fetch downloads SHA256SUMS and the build, checks the build against the list and against
// opts.SHA256, and only then installs it at opts.Dest. On any error nothing is installed.
func Fetch(ctx context.Context, opts FetchOptions) (string, error) {
	if opts.Client == nil {
		return "", errors.New("fetch: no HTTP client")
	}
	if opts.SHA256 != "" {
		opts.SHA256 = strings.ToLower(opts.SHA256)
		if len(opts.SHA256) != 64 || strings.Trim(opts.SHA256, "0123456789abcdef") != "" {
			return "", fmt.Errorf("invalid --sha256 %q: want 64 hex digits", opts.SHA256)
		}
	}
	base := strings.TrimSuffix(opts.BaseURL, "/")
	var sumsBuf strings.Builder
	if err := get(ctx, opts.Client, base+"/"+SumsFile, &limitWriter{w: &sumsBuf, n: maxSums}); err != nil {
		return "", err
	}
	sums, err := ParseSums([]byte(sumsBuf.String()))
	if err != nil {
		return "", fmt.Errorf("from %s: %w", base, err)
	}
	path := opts.Platform.Path()
	listed, ok := sums[path]
	if !ok {
		return "", fmt.Errorf("%s: %w at %s", opts.Platform, ErrNoBuild, base)
	}
	if opts.SHA256 != "" && opts.SHA256 != listed {
		return "", fmt.Errorf("%w for %s: the repository lists %s, expected %s; nothing was installed", ErrChecksum, path, listed, opts.SHA256)
	}
	if err := os.MkdirAll(filepath.Dir(opts.Dest), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(opts.Dest), "."+filepath.Base(opts.Dest)+".download-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if err := get(ctx, opts.Client, base+"/"+path, io.MultiWriter(tmp, h)); err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != listed {
		return "", fmt.Errorf("%w for %s: downloaded %s, the repository lists %s; nothing was installed", ErrChecksum, path, got, listed)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), opts.Dest); err != nil {
		return "", err
	}
	return listed, nil
}

func get(ctx context.Context, c *http.Client, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("download %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	return nil
}

type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, fmt.Errorf("%s is larger than %d bytes", SumsFile, maxSums)
	}
	l.n -= len(p)
	return l.w.Write(p)
}
