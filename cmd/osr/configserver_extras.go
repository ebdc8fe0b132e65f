package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/installrepo"
)

// vcenterSyncInterval is how often a running configuration server refreshes its vCenter inventory
// (osr vcenter refresh does it at once).
const vcenterSyncInterval = 15 * time.Minute

// configServerExtras returns what a running configuration server serves and runs beyond its own
// API: the agent install repository under /agents/ (with this binary added for its own platform
// when missing, so that manual installs and pushes to like hosts work from the start) and the
// scheduled vCenter inventory sync.
func (a *app) configServerExtras(ctx context.Context, dataDir string, log *slog.Logger) (map[string]http.Handler, []func(context.Context), error) {
	repo, err := installrepo.Open(filepath.Join(dataDir, repoDir))
	if err != nil {
		return nil, nil, err
	}
	self := installrepo.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	if sums, err := repo.Sums(); err == nil {
		if _, ok := sums[self.Path()]; !ok {
			// Only an osr binary is an agent build (a test binary running this code is not).
			if exe, err := os.Executable(); err == nil && strings.TrimSuffix(filepath.Base(exe), ".exe") == "osr" {
				if _, err := repo.AddFile(ctx, self, exe); err != nil {
					log.Warn("install repository: this build could not be added", "platform", self.String(), "err", err)
				}
			}
		}
	}
	sync, _, err := a.syncer(dataDir)
	if err != nil {
		return nil, nil, err
	}
	services := []func(context.Context){func(ctx context.Context) {
		if err := sync.Run(ctx, vcenterSyncInterval); err != nil && ctx.Err() == nil {
			log.Warn("vCenter inventory sync stopped", "err", err)
		}
	}}
	return map[string]http.Handler{installrepo.Prefix: repo.Handler(log)}, services, nil
}
