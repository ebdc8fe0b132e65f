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
	"github.com/opensiterecovery/osr/internal/pushinstall"
	"github.com/opensiterecovery/osr/internal/vcenter"
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

// autoPush returns the configuration server's hook that pushes the mobility service, as the
// seed's portal does, to every machine replication is enabled for that has no agent yet: physical
// servers added with `osr machines add --account`, and virtual machines discovered in vCenter with
// their vCenter's push account, over SSH.
func (a *app) autoPush(dataDir string, log *slog.Logger) func(context.Context, []string, func(string) bool) {
	f := &pushFlags{dataDir: dataDir}
	pusher, inv, err := a.pusher(f)
	if err != nil {
		log.Warn("automatic push install is off", "err", err)
		return nil
	}
	var auto *pushinstall.Auto
	var hasAgent func(string) bool
	// Each outcome is kept in the inventory, which the vault shows (a failed push is the enable
	// replication job's error).
	record := func(machine, errText string) {
		if err := inv.RecordPush(context.Background(), machine, vcenter.PushResult{Time: a.clock.Now(), Error: errText}); err != nil {
			log.Warn("automatic push install: outcome not recorded", "machine", machine, "err", err)
		}
	}
	resolver := pushinstall.Resolver{Inventory: inv}
	push := func(ctx context.Context, t pushinstall.Target) pushinstall.Result {
		r := pusher.Push(ctx, t)
		record(t.Machine, r.Error)
		return r
	}
	resolve := func(ctx context.Context, machine string) (pushinstall.Target, error) {
		t, err := resolver.Resolve(ctx, machine)
		if err != nil {
			record(machine, err.Error())
		}
		return t, err
	}
	auto, err = pushinstall.NewAuto(pushinstall.AutoConfig{Push: push, Resolve: resolve,
		HasAgent: func(m string) bool { return hasAgent != nil && hasAgent(m) }, Clock: a.clock, Logger: log})
	if err != nil {
		log.Warn("automatic push install is off", "err", err)
		return nil
	}
	return func(ctx context.Context, machines []string, has func(string) bool) {
		hasAgent = has
		if started := auto.Wanted(ctx, machines); len(started) > 0 {
			log.Info("automatic push install started", "machines", started)
		}
	}
}
