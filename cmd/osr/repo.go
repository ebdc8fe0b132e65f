package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/backends"
	"github.com/opensiterecovery/osr/internal/store"
)

// repoFlags are the flags every store command shares.
type repoFlags struct {
	repo         string
	passwordFile string
	uploadLimit  int64
	downLimit    int64
}

func (f *repoFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.repo, "repo", "", "vault store location: a directory, file://, azure:// or s3:// URL (default $OSR_REPO)")
	cmd.PersistentFlags().StringVar(&f.passwordFile, "password-file", "", "file holding the store password (default $OSR_PASSWORD)")
	cmd.PersistentFlags().Int64Var(&f.uploadLimit, "limit-upload", 0, "upload bandwidth limit in bytes per second (0: none)")
	cmd.PersistentFlags().Int64Var(&f.downLimit, "limit-download", 0, "download bandwidth limit in bytes per second (0: none)")
}

func (a *app) backend(ctx context.Context, f *repoFlags, create bool) (storage.Backend, error) {
	loc := f.repo
	if loc == "" {
		loc = a.getenv("OSR_REPO")
	}
	if loc == "" {
		return nil, errors.New("no store given: use --repo or set OSR_REPO")
	}
	return backends.Open(ctx, loc, backends.Options{
		Getenv:          a.getenv,
		Logger:          a.logger,
		Retry:           true,
		CreateIfMissing: create,
		UploadLimit:     f.uploadLimit,
		DownloadLimit:   f.downLimit,
	})
}

func (a *app) password(f *repoFlags) ([]byte, error) {
	if f.passwordFile != "" {
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("read password file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return nil, fmt.Errorf("password file %s is empty", f.passwordFile)
		}
		return []byte(pw), nil
	}
	if pw := a.getenv("OSR_PASSWORD"); pw != "" {
		return []byte(pw), nil
	}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprint(a.stderr, "store password: ")
		pw, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return nil, err
		}
		if len(pw) > 0 {
			return pw, nil
		}
	}
	return nil, errors.New("no password given: use --password-file or set OSR_PASSWORD")
}

func (a *app) storeOptions() store.Options {
	return store.Options{Logger: a.logger, Clock: a.clock}
}

func (a *app) openRepo(ctx context.Context, f *repoFlags) (*store.Repo, error) {
	be, err := a.backend(ctx, f, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", store.ErrNotInitialized, err)
	}
	if err != nil {
		return nil, err
	}
	if _, err := store.ReadConfig(ctx, be); err != nil {
		return nil, err
	}
	pw, err := a.password(f)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, be, pw, a.storeOptions())
}
