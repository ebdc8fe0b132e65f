package processserver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/opensiterecovery/osr/internal/wire"
)

// Cache layout: DIR/machines/<machine>/<seq>.part while a point arrives, renamed to <seq>.point
// once its EndPoint is fsynced. Both hold the raw frames as received.
const (
	partExt  = ".part"
	pointExt = ".point"
)

// cache is the directory of points not yet committed.
type cache struct {
	dir      string
	maxBytes int64
	used     atomic.Int64 // bytes in point files
	mem      *chunkPool   // memory arriving points keep for their uploads
}

func openCache(dir string, maxBytes, memBytes int64) (*cache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "machines"), 0o700); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &cache{dir: dir, maxBytes: maxBytes, mem: newChunkPool(memBytes)}, nil
}

func (c *cache) machineDir(machine string) string { return filepath.Join(c.dir, "machines", machine) }

func (c *cache) path(machine string, seq uint64, ext string) string {
	return filepath.Join(c.machineDir(machine), strconv.FormatUint(seq, 10)+ext)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// cachedPoint is a complete point found in the cache at start.
type cachedPoint struct {
	machine string
	seq     uint64
	base    uint64
	path    string
	size    int64
}

// scan lists the complete points in the cache, machine by machine in seq order, after checking
// every frame. Parts (points that never ended) and points that fail the check are removed.
func (c *cache) scan(logf func(msg string, args ...any)) (map[string][]cachedPoint, error) {
	out := map[string][]cachedPoint{}
	machines, err := os.ReadDir(filepath.Join(c.dir, "machines"))
	if err != nil {
		return nil, err
	}
	for _, md := range machines {
		if !md.IsDir() || wire.ValidName(md.Name()) != nil {
			continue
		}
		dir := c.machineDir(md.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			name := e.Name()
			p := filepath.Join(dir, name)
			switch {
			case strings.HasSuffix(name, partExt):
				logf("dropping incomplete cached point", "machine", md.Name(), "file", name)
				if err := os.Remove(p); err != nil {
					return nil, err
				}
			case strings.HasSuffix(name, pointExt):
				seq, err := strconv.ParseUint(strings.TrimSuffix(name, pointExt), 10, 64)
				if err != nil || seq == 0 {
					continue
				}
				cp, err := checkPointFile(p, md.Name(), seq)
				if err != nil {
					logf("dropping cached point that fails its check", "machine", md.Name(), "seq", seq, "err", err)
					if err := os.Remove(p); err != nil {
						return nil, err
					}
					continue
				}
				out[md.Name()] = append(out[md.Name()], cp)
				c.used.Add(cp.size)
			}
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
		sort.Slice(out[md.Name()], func(i, j int) bool { return out[md.Name()][i].seq < out[md.Name()][j].seq })
	}
	return out, nil
}

// checkPointFile reads a whole cached point: every checksum, every block fingerprint, a BeginPoint
// first and a matching EndPoint last.
func checkPointFile(path, machine string, seq uint64) (cachedPoint, error) {
	r, err := openFrameReader(path, nil)
	if err != nil {
		return cachedPoint{}, err
	}
	defer r.Close()
	cp := cachedPoint{machine: machine, seq: seq, path: path, size: r.size}
	var pc pointCheck
	for {
		f, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cp, err
		}
		if err := pc.add(f); err != nil {
			return cp, err
		}
	}
	if !pc.ended {
		return cp, errors.New("no EndPoint: the point is incomplete")
	}
	if pc.begin.Seq != seq {
		return cp, fmt.Errorf("file of seq %d holds seq %d", seq, pc.begin.Seq)
	}
	cp.base = pc.begin.Base
	return cp, nil
}
