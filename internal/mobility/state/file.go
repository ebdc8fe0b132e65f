package state

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically: a reader sees the old content or the new, never a mix,
// also after a crash. The file is fsynced before the rename and the directory after it.
func WriteFile(path string, data []byte) error {
	return WriteFileFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, nil)
}

// WriteFileFunc is WriteFile with the content written by fill; written, if not nil, is called
// once fill is done, before the fsync (to release a lock held for fill).
func WriteFileFunc(path string, fill func(w io.Writer) error, written func()) error {
	released := false
	release := func() {
		if !released && written != nil {
			released = true
			written()
		}
	}
	defer release() // on every path, exactly once
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	err = fill(tmp)
	release()
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// MapPath is where the replica map of a disk lives in the state directory.
func MapPath(dir, disk string) string { return filepath.Join(dir, "map-"+disk+".rmap") }

// SaveMap writes the map of its disk into the state directory atomically.
func SaveMap(dir string, m *Map) error {
	return WriteFileFunc(MapPath(dir, m.Disk), m.Write, nil)
}

// SaveMapLocked is SaveMap for a map guarded by a lock the caller holds: unlock is called as
// soon as the content is written, before the fsync.
func SaveMapLocked(dir string, m *Map, unlock func()) error {
	return WriteFileFunc(MapPath(dir, m.Disk), m.Write, unlock)
}

// LoadMap reads the map of a disk from the state directory; a missing file gives an error that
// satisfies errors.Is(err, os.ErrNotExist).
func LoadMap(dir, disk string) (*Map, error) {
	b, err := os.ReadFile(MapPath(dir, disk))
	if err != nil {
		return nil, err
	}
	m, err := DecodeMap(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MapPath(dir, disk), err)
	}
	if m.Disk != disk {
		return nil, fmt.Errorf("%s: map of disk %q, want %q", MapPath(dir, disk), m.Disk, disk)
	}
	return m, nil
}
