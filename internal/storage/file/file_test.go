package file_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	newBackend := func(t *testing.T) storage.Backend {
		be, err := file.Open(filepath.Join(t.TempDir(), "vault"), file.Options{CreateIfMissing: true})
		if err != nil {
			t.Fatal(err)
		}
		return be
	}
	reopen := func(t *testing.T, be storage.Backend) storage.Backend {
		be2, err := file.Open(be.(*file.Backend).Root(), file.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return be2
	}
	storagetest.Run(t, newBackend, storagetest.WithReopen(reopen))
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	if _, err := file.Open(filepath.Join(dir, "missing"), file.Options{}); !storage.IsPermanent(err) {
		t.Errorf("open of a missing directory: %v, want a permanent error", err)
	}
	f := filepath.Join(dir, "plain")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := file.Open(f, file.Options{CreateIfMissing: true}); err == nil {
		t.Error("open of a plain file: no error")
	}
	be, err := file.Open(dir, file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := be.Location(), "file://"+filepath.ToSlash(dir); got != want {
		t.Errorf("location %q, want %q", got, want)
	}
}

func TestModesAndTempFiles(t *testing.T) {
	root := t.TempDir()
	be, err := file.Open(root, file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := be.Put(ctx, "data/ab/abcdef", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		"data": os.ModeDir | 0o700, "data/ab": os.ModeDir | 0o700, "data/ab/abcdef": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	// A temporary file left by a crash is not listed, and its name cannot be used.
	if err := os.WriteFile(filepath.Join(root, "data/ab/.tmp-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := be.List(ctx, "", func(fi storage.Info) error { names = append(names, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "data/ab/abcdef" {
		t.Errorf("list: %v", names)
	}
	if _, err := be.Stat(ctx, "data/ab/.tmp-123"); !storage.IsPermanent(err) || storage.IsNotFound(err) {
		t.Errorf("stat of a temporary file: %v, want a permanent error", err)
	}
	if err := be.List(ctx, "../", func(storage.Info) error { return nil }); !storage.IsPermanent(err) {
		t.Errorf("list with prefix ../: %v, want a permanent error", err)
	}
}
