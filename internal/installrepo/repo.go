package installrepo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Platform is a GOOS/GOARCH pair the mobility service is built for.
type Platform struct{ OS, Arch string }

// The supported platforms.
var (
	LinuxAMD64   = Platform{"linux", "amd64"}
	LinuxARM64   = Platform{"linux", "arm64"}
	WindowsAMD64 = Platform{"windows", "amd64"}
)

// Platforms lists the supported platforms in a fixed order.
func Platforms() []Platform { return []Platform{LinuxAMD64, LinuxARM64, WindowsAMD64} }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Path is the build's path inside the repository, e.g. "linux-amd64/osr".
func (p Platform) Path() string {
	name := "osr"
	if p.OS == "windows" {
		name = "osr.exe"
	}
	return p.OS + "-" + p.Arch + "/" + name
}

// ParsePlatform accepts "linux/amd64" or "linux-amd64".
func ParsePlatform(s string) (Platform, error) {
	for _, p := range Platforms() {
		if s == p.String() || s == p.OS+"-"+p.Arch {
			return p, nil
		}
	}
	return Platform{}, fmt.Errorf("unsupported platform %q: want linux/amd64, linux/arm64 or windows/amd64", s)
}

// SumsFile is the checksum list.
const SumsFile = "SHA256SUMS"

const maxSums = 64 << 10

// ErrNoBuild is wrapped when the repository holds no build for a platform.
var ErrNoBuild = errors.New("no build in the install repository")

// Repo is an install repository in a directory.
type Repo struct{ dir string }

// Open returns the repository in dir; it is created by the first Add.
func Open(dir string) (*Repo, error) {
	if dir == "" {
		return nil, errors.New("install repository: no directory")
	}
	return &Repo{dir: dir}, nil
}

// Dir is the repository's directory.
func (r *Repo) Dir() string { return r.dir }

// Sums reads the checksum list: path → lowercase hex SHA-256. A missing list is empty.
func (r *Repo) Sums() (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, SumsFile))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", SumsFile, err)
	}
	return ParseSums(b)
}

// ParseSums parses sha256sum(1) output: "HEX  PATH" (or "HEX *PATH") a line. Paths must be those of
// supported platforms; each at most once.
func ParseSums(b []byte) (map[string]string, error) {
	if len(b) > maxSums {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", SumsFile, len(b), maxSums)
	}
	known := map[string]bool{}
	for _, p := range Platforms() {
		known[p.Path()] = true
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		sum, path, ok := strings.Cut(line, " ")
		if !ok || len(path) < 2 || (path[0] != ' ' && path[0] != '*') {
			return nil, fmt.Errorf("%s line %d: want \"SHA256  PATH\"", SumsFile, n)
		}
		path = path[1:]
		if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("%s line %d: %q is not a lowercase hex SHA-256", SumsFile, n, sum)
		}
		if !known[path] {
			return nil, fmt.Errorf("%s line %d: unknown build %q", SumsFile, n, path)
		}
		if _, dup := out[path]; dup {
			return nil, fmt.Errorf("%s line %d: %s listed twice", SumsFile, n, path)
		}
		out[path] = sum
	}
	return out, nil
}

// FormatSums writes the list in sha256sum(1) form, sorted by path.
func FormatSums(sums map[string]string) []byte {
	paths := make([]string, 0, len(sums))
	for p := range sums {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var b bytes.Buffer
	for _, p := range paths {
		fmt.Fprintf(&b, "%s  %s\n", sums[p], p)
	}
	return b.Bytes()
}

// Add stores the build of p read from src and lists its checksum, which it returns.
func (r *Repo) Add(ctx context.Context, p Platform, src io.Reader) (string, error) {
	if _, err := ParsePlatform(p.String()); err != nil {
		return "", err
	}
	dst := filepath.Join(r.dir, filepath.FromSlash(p.Path()))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	h := sha256.New()
	if err := writeAtomic(dst, 0o755, io.TeeReader(ctxReader{ctx, src}, h)); err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	sums, err := r.Sums()
	if err != nil {
		return "", err
	}
	sums[p.Path()] = sum
	if err := writeAtomic(filepath.Join(r.dir, SumsFile), 0o644, bytes.NewReader(FormatSums(sums))); err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	return sum, nil
}

// AddFile stores the build of p from a file.
func (r *Repo) AddFile(ctx context.Context, p Platform, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	defer f.Close()
	return r.Add(ctx, p, f)
}

// Build is one build, opened for reading, with its size and checksum.
type Build struct {
	Platform Platform
	SHA256   string
	Size     int64
	File     *os.File // the caller closes it
}

// Open opens the build of p after checking it against SHA256SUMS: a build whose bytes no longer
// match its checksum is refused.
func (r *Repo) Open(ctx context.Context, p Platform) (*Build, error) {
	sums, err := r.Sums()
	if err != nil {
		return nil, err
	}
	want, ok := sums[p.Path()]
	if !ok {
		return nil, fmt.Errorf("%s: %w (add it with osr mobility repo add)", p, ErrNoBuild)
	}
	f, err := os.Open(filepath.Join(r.dir, filepath.FromSlash(p.Path())))
	if err != nil {
		return nil, fmt.Errorf("open build %s: %w", p, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read build %s: %w", p, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		f.Close()
		return nil, fmt.Errorf("build %s is damaged: its SHA-256 is %s, SHA256SUMS says %s", p.Path(), got, want)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &Build{Platform: p, SHA256: want, Size: n, File: f}, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func writeAtomic(path string, mode os.FileMode, src io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
