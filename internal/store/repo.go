package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage"
)

// Options tune a Repo. Zero values take defaults.
type Options struct {
	Logger      *slog.Logger
	Clock       clock.Clock
	Concurrency int // CPU-bound workers; default GOMAXPROCS
	PackSize    int // target pack size; default 16 MiB
	Uploads     int // concurrent pack uploads; default 2
	KDF         crypto.KDFParams
	Hostname    string
	LockStale   time.Duration // a lock not refreshed for this long is stale; default 30 min
}

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.PackSize <= 0 {
		o.PackSize = 16 << 20
	}
	if o.Uploads <= 0 {
		o.Uploads = 2
	}
	if o.KDF == (crypto.KDFParams{}) {
		o.KDF = crypto.DefaultKDF
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.LockStale <= 0 {
		o.LockStale = 30 * time.Minute
	}
}

// Config is the plaintext config object: enough to tell a store and its format version before any
// key is opened.
type Config struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

const formatName = "osr-vault-store"

// Repo is an open vault store. It is safe for concurrent use.
type Repo struct {
	be     storage.Backend
	opts   Options
	cfg    Config
	mk     *crypto.MasterKey
	keyID  string // name of the key file that opened the store
	keys   *crypto.Keys
	codec  *codec
	index  *Index
	mu     sync.Mutex
	loaded map[ID]bool // index objects loaded
	nodes  *nodeCache
}

// ErrNotInitialized is returned by Open when the location holds no store.
var ErrNotInitialized = errors.New("no vault store at this location (run 'osr store init')")

// Init creates a new store at be, protected by password.
func Init(ctx context.Context, be storage.Backend, password []byte, opts Options) (*Repo, error) {
	opts.fill()
	if _, err := be.Stat(ctx, configName); err == nil {
		return nil, fmt.Errorf("a vault store already exists at %s", be.Location())
	} else if !storage.IsNotFound(err) {
		return nil, fmt.Errorf("check for an existing store: %w", err)
	}
	mk := crypto.NewMasterKey()
	r, err := newRepo(be, mk, opts)
	if err != nil {
		return nil, err
	}
	r.cfg = Config{Format: formatName, Version: FormatVersion, ID: crypto.RandomID().String(), Created: opts.Clock.Now().UTC()}
	if r.keyID, err = r.AddKey(ctx, password); err != nil {
		return nil, err
	}
	cb, _ := json.MarshalIndent(r.cfg, "", "  ")
	if err := putBytes(ctx, be, configName, cb); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	return r, nil
}

func newRepo(be storage.Backend, mk *crypto.MasterKey, opts Options) (*Repo, error) {
	keys, err := crypto.NewKeys(mk)
	if err != nil {
		return nil, err
	}
	c, err := newCodec(keys, opts.Concurrency)
	if err != nil {
		return nil, err
	}
	return &Repo{be: be, opts: opts, mk: mk, keys: keys, codec: c, index: newIndex(), loaded: map[ID]bool{}, nodes: newNodeCache(8192)}, nil
}

// ReadConfig reads and checks the config object.
func ReadConfig(ctx context.Context, be storage.Backend) (Config, error) {
	var cfg Config
	b, err := storage.ReadAll(ctx, be, configName)
	if storage.IsNotFound(err) {
		return cfg, fmt.Errorf("%s: %w", be.Location(), ErrNotInitialized)
	}
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(b, be.Location())
}

// parseConfig decodes and checks a config object read from loc.
func parseConfig(b []byte, loc string) (Config, error) {
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Format != formatName {
		return Config{}, fmt.Errorf("%s does not hold an osr vault store: config object is not valid", loc)
	}
	if cfg.Version > FormatVersion {
		return Config{}, fmt.Errorf("the store at %s has format version %d, newer than this osr supports (%d): upgrade osr", loc, cfg.Version, FormatVersion)
	}
	if cfg.Version < 1 {
		return Config{}, fmt.Errorf("the store at %s has an invalid format version %d", loc, cfg.Version)
	}
	return cfg, nil
}

// Open opens the store at be with password and loads its index.
func Open(ctx context.Context, be storage.Backend, password []byte, opts Options) (*Repo, error) {
	opts.fill()
	cfg, err := ReadConfig(ctx, be)
	if err != nil {
		return nil, err
	}
	var names []string
	if err := be.List(ctx, keysPrefix, func(fi storage.Info) error {
		names = append(names, fi.Name)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the store at %s has no key files", be.Location())
	}
	var lastErr error = crypto.ErrWrongPassword
	for _, name := range names {
		b, err := storage.ReadAll(ctx, be, name)
		if err != nil {
			return nil, fmt.Errorf("read key %s: %w", name, err)
		}
		kf, err := crypto.DecodeKeyFile(b)
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", name, err)
			continue
		}
		mk, err := kf.Unwrap(password)
		if err != nil {
			if !errors.Is(err, crypto.ErrWrongPassword) {
				lastErr = fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		r, err := newRepo(be, mk, opts)
		if err != nil {
			return nil, err
		}
		r.cfg, r.keyID = cfg, name
		if err := r.LoadIndex(ctx); err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, lastErr
}

// AddKey writes a new key file for password and returns its name.
func (r *Repo) AddKey(ctx context.Context, password []byte) (string, error) {
	kf, err := crypto.WrapKey(r.mk, password, r.opts.KDF, r.opts.Clock.Now(), r.opts.Hostname)
	if err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(kf, "", "  ")
	name := keysPrefix + crypto.RandomID().String()
	if err := putBytes(ctx, r.be, name, b); err != nil {
		return "", fmt.Errorf("write key file: %w", err)
	}
	return name, nil
}

// ChangePassword writes a key file for the new password, then removes the one that opened the
// store. No data is rewritten.
func (r *Repo) ChangePassword(ctx context.Context, newPassword []byte) error {
	name, err := r.AddKey(ctx, newPassword)
	if err != nil {
		return err
	}
	if err := r.be.Delete(ctx, r.keyID); err != nil {
		return fmt.Errorf("remove old key %s (the new key %s works already): %w", r.keyID, name, err)
	}
	r.keyID = name
	return nil
}

// Config returns the store's config.
func (r *Repo) Config() Config { return r.cfg }

// Backend returns the storage backend.
func (r *Repo) Backend() storage.Backend { return r.be }

// Index returns the in-memory index.
func (r *Repo) Index() *Index { return r.index }

// LoadIndex reads index objects not read yet. An index object that disappears between the
// listing and the read was superseded by a prune, whose new index the next listing finds.
func (r *Repo) LoadIndex(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = r.loadIndexOnce(ctx); !storage.IsNotFound(err) {
			return err
		}
	}
	return err
}

func (r *Repo) loadIndexOnce(ctx context.Context) error {
	var todo []ID
	if err := r.be.List(ctx, indexPrefix, func(fi storage.Info) error {
		id, err := crypto.ParseID(strings.TrimPrefix(fi.Name, indexPrefix))
		if err != nil {
			return nil // not ours
		}
		r.mu.Lock()
		if !r.loaded[id] {
			todo = append(todo, id)
		}
		r.mu.Unlock()
		return nil
	}); err != nil {
		return fmt.Errorf("list index: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range todo {
		g.Go(func() error {
			f, err := r.readIndex(gctx, id)
			if err != nil {
				return err
			}
			for _, p := range f.Packs {
				r.index.addPack(p.ID, p.Blobs)
			}
			for _, p := range f.Condemned {
				r.index.addCondemned(p.ID, p.Blobs)
			}
			r.mu.Lock()
			r.loaded[id] = true
			r.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

func (r *Repo) readIndex(ctx context.Context, id ID) (*indexFile, error) {
	name := indexPrefix + id.String()
	b, err := storage.ReadAll(ctx, r.be, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	plain, err := r.keys.Open(nil, b, []byte(indexAD))
	if err != nil {
		return nil, fmt.Errorf("%w: index object %s: %w", ErrCorrupt, name, err)
	}
	f, err := decodeIndex(plain)
	if err != nil {
		return nil, fmt.Errorf("index object %s: %w", name, err)
	}
	return f, nil
}

// writeIndex stores an index object and returns its ID.
func (r *Repo) writeIndex(ctx context.Context, f *indexFile) (ID, error) {
	id := crypto.RandomID()
	b := r.keys.Seal(nil, encodeIndex(f), []byte(indexAD))
	if err := putBytes(ctx, r.be, indexPrefix+id.String(), b); err != nil {
		return id, fmt.Errorf("write index: %w", err)
	}
	r.mu.Lock()
	r.loaded[id] = true
	r.mu.Unlock()
	return id, nil
}

// loadBlob reads, authenticates and decodes one blob, appending its plaintext to dst.
func (r *Repo) loadBlob(ctx context.Context, id ID, dst []byte) ([]byte, blobLoc, error) {
	loc, ok := r.index.Lookup(id)
	if !ok {
		return nil, loc, fmt.Errorf("%w: blob %s is not in the index", ErrCorrupt, id.Short())
	}
	var out []byte
	err := r.be.Load(ctx, packName(loc.Pack), int64(loc.Offset), int64(loc.Length), func(rd io.Reader) error {
		stored := make([]byte, loc.Length)
		if _, err := io.ReadFull(rd, stored); err != nil {
			return fmt.Errorf("%w: pack %s: short read at offset %d: %w", ErrCorrupt, loc.Pack.Short(), loc.Offset, err)
		}
		var err error
		out, err = r.codec.open(dst, id, stored, int(loc.RawLength))
		return err
	})
	if err != nil {
		switch {
		case storage.IsNotFound(err):
			err = fmt.Errorf("%w: pack %s holding blob %s is missing: %w", ErrCorrupt, loc.Pack.Short(), id.Short(), err)
		case errors.Is(err, ErrCorrupt):
			err = fmt.Errorf("pack %s offset %d: %w", loc.Pack.Short(), loc.Offset, err)
		default:
			err = fmt.Errorf("blob %s: %w", id.Short(), r.packLoadError(ctx, loc.Pack, int64(loc.Offset), int64(loc.Length), err))
		}
		return nil, loc, err
	}
	return out, loc, nil
}

func putBytes(ctx context.Context, be storage.Backend, name string, b []byte) error {
	return be.Put(ctx, name, bytesReaderAt(b), int64(len(b)))
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
