// Package file is the storage backend on a local directory, the default vault storage.
//
// Layout: the object "data/ab/abcdef" is the file ROOT/data/ab/abcdef; directories are created on
// demand (mode 0700) and files are written with mode 0600. A Put writes a temporary file named
// ".tmp-*" in the object's directory, fsyncs it, renames it over the object's name and fsyncs the
// directory, so an object is either absent, old or whole and new, and survives a crash of the host
// once Put returns. List skips temporary files; a crash can leave them behind, and they are harmless.
//
// Because objects are files, one name cannot be both an object and a directory: "a" and "a/b"
// cannot exist at the same time (the vault's names never do that).
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/storage"
)

// tmpPrefix starts the names of temporary files; names with a segment that starts with it are
// refused so that List can skip them.
const tmpPrefix = ".tmp-"

// copyChunk is how much Put copies between checks of its context.
const copyChunk = 1 << 20

// Options configure Open.
type Options struct {
	// CreateIfMissing creates the root directory (and its parents) when it does not exist.
	CreateIfMissing bool
}

// Backend stores objects as files under a root directory.
type Backend struct {
	root string // absolute, cleaned
}

var _ storage.Backend = (*Backend)(nil)

// Open returns a backend on the directory root. A relative root is made absolute.
func Open(root string, opts Options) (*Backend, error) {
	if root == "" {
		return nil, storage.Permanent(errors.New("file storage: empty directory name"))
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("file storage: %w", err)
	}
	if opts.CreateIfMissing {
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, storage.Permanent(fmt.Errorf("file storage: create %s: %w", abs, err))
		}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, storage.Permanent(fmt.Errorf("file storage: %w", err))
	}
	if !fi.IsDir() {
		return nil, storage.Permanent(fmt.Errorf("file storage: %s is not a directory", abs))
	}
	return &Backend{root: abs}, nil
}

// Location returns the file URL of the root directory.
func (b *Backend) Location() string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(b.root)}).String()
}

// Root returns the absolute root directory.
func (b *Backend) Root() string { return b.root }

// Close does nothing.
func (b *Backend) Close() error { return nil }

func (b *Backend) path(name string) (string, error) {
	if err := storage.CheckName(name); err != nil {
		return "", fmt.Errorf("file storage: %w", err)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, tmpPrefix) {
			return "", storage.Permanent(fmt.Errorf("file storage: invalid object name %q: segment starts with %q",
				name, tmpPrefix))
		}
	}
	return filepath.Join(b.root, filepath.FromSlash(name)), nil
}

// Put writes the object to a temporary file and renames it into place, fsyncing both.
func (b *Backend) Put(ctx context.Context, name string, body io.ReaderAt, size int64) error {
	p, err := b.path(name)
	if err != nil {
		return err
	}
	if size < 0 {
		return storage.Permanent(fmt.Errorf("file storage: put %s: negative size %d", name, size))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := b.mkdirs(dir); err != nil {
		return fmt.Errorf("file storage: put %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("file storage: put %s: %w", name, classify(err))
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := writeBody(ctx, tmp, body, size); err != nil {
		return fmt.Errorf("file storage: put %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("file storage: put %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("file storage: put %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("file storage: put %s: %w", name, classify(err))
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("file storage: put %s: %w", name, err)
	}
	return nil
}

// directMin is the size from which objects are written with direct I/O: packs skip the page
// cache, small objects (keys, points, locks) do not pay for the alignment.
const directMin = 1 << 20

// writeBody writes the object into the new temporary file.
func writeBody(ctx context.Context, tmp *os.File, body io.ReaderAt, size int64) error {
	if size >= directMin {
		err := directio.Copy(ctx, tmp.Name(), body, size, 4<<20)
		if !errors.Is(err, directio.ErrUnsupported) {
			return err
		}
	}
	return copyBody(ctx, tmp, body, size)
}

// copyBody copies size bytes of body to w, checking ctx between chunks.
func copyBody(ctx context.Context, w io.Writer, body io.ReaderAt, size int64) error {
	buf := make([]byte, min(size, copyChunk))
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(len(buf)), size-off)
		got, err := body.ReadAt(buf[:n], off)
		if int64(got) < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read body at %d: %w", off, err)
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// mkdirs creates dir and its missing parents below the root, fsyncing the parent of each new one.
func (b *Backend) mkdirs(dir string) error {
	if dir == b.root {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return storage.Permanent(fmt.Errorf("%s is a file, not a directory", dir))
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if err := b.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
				return nil // created concurrently
			}
		}
		return classify(err)
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Load opens the file and calls fn with a reader of the requested range.
func (b *Backend) Load(ctx context.Context, name string, offset, length int64, fn func(io.Reader) error) error {
	p, err := b.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("file storage: load %s: %w", name, classify(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("file storage: load %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("file storage: load %s: %w", name, storage.ErrNotFound)
	}
	n, err := storage.CheckRange(offset, length, fi.Size())
	if err != nil {
		return fmt.Errorf("file storage: load %s: %w", name, err)
	}
	return fn(io.NewSectionReader(f, offset, n))
}

// Stat returns the size of the object's file.
func (b *Backend) Stat(ctx context.Context, name string) (storage.Info, error) {
	p, err := b.path(name)
	if err != nil {
		return storage.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return storage.Info{}, fmt.Errorf("file storage: stat %s: %w", name, classify(err))
	}
	if !fi.Mode().IsRegular() {
		return storage.Info{}, fmt.Errorf("file storage: stat %s: %w", name, storage.ErrNotFound)
	}
	return storage.Info{Name: name, Size: fi.Size()}, nil
}

// Delete removes the object's file and fsyncs its directory. Empty directories are kept.
func (b *Backend) Delete(ctx context.Context, name string) error {
	p, err := b.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("file storage: delete %s: %w", name, classify(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("file storage: delete %s: %w", name, storage.ErrNotFound)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("file storage: delete %s: %w", name, classify(err))
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("file storage: delete %s: %w", name, err)
	}
	return nil
}

// List walks the directory tree below the deepest directory that prefix names.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	if strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "\\\x00") ||
		strings.Contains("/"+prefix+"/", "/../") {
		return storage.Permanent(fmt.Errorf("file storage: invalid list prefix %q", prefix))
	}
	start := b.root
	var fnErr error
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(b.root, filepath.FromSlash(path.Clean(prefix[:i])))
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // the start directory does not exist, or a directory vanished
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(b.root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		} else if err != nil {
			return err
		}
		if err := fn(storage.Info{Name: name, Size: fi.Size()}); err != nil {
			fnErr = err
			return fs.SkipAll
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("file storage: list %q: %w", prefix, err)
	}
	return nil
}

// classify maps file system errors to the storage package's classes.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EISDIR),
		errors.Is(err, syscall.EROFS):
		return storage.Permanent(err)
	}
	return err
}
