package pushinstall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

func TestAutoPush(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	inv, _ := vcenter.Open(t.TempDir(), clk)
	ctx := context.Background()
	for _, m := range []vcenter.Machine{{Name: "web01", Address: "10.0.0.7", Account: "linux"}, {Name: "db01", Address: "10.0.0.8", Account: "linux"}} {
		if _, err := inv.AddMachine(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	agents := map[string]bool{"app01": true}
	var pushed []string
	fail := map[string]bool{"db01": true}
	a, err := NewAuto(AutoConfig{
		Resolve: Resolver{Inventory: inv}.Resolve,
		HasAgent: func(m string) bool {
			mu.Lock()
			defer mu.Unlock()
			return agents[m]
		},
		Push: func(_ context.Context, tg Target) Result {
			mu.Lock()
			defer mu.Unlock()
			pushed = append(pushed, tg.Machine+"@"+tg.Address+"/"+tg.Account)
			if fail[tg.Machine] {
				err := fmt.Errorf("machine %s: connect to %s:22: connect: no route to host", tg.Machine, tg.Address)
				return Result{Machine: tg.Machine, Err: err, Error: err.Error()}
			}
			agents[tg.Machine] = true
			return Result{Machine: tg.Machine, Action: "installed"}
		},
		Clock: clk, RetryAfter: 15 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	wanted := []string{"app01", "web01", "db01", "ghost"}
	if got := a.Wanted(ctx, wanted); !slices.Equal(got, []string{"db01", "ghost", "web01"}) {
		t.Fatalf("started %v", got)
	}
	a.Wait()
	slices.Sort(pushed)
	if !slices.Equal(pushed, []string{"db01@10.0.0.8/linux", "web01@10.0.0.7/linux"}) {
		t.Fatalf("pushed %v", pushed)
	}
	res := a.Results()
	if res["web01"].Err != nil || res["db01"].Error != "machine db01: connect to 10.0.0.8:22: connect: no route to host" ||
		res["ghost"].Error != "machine ghost is not in the inventory: add it with osr machines add or osr vcenter add" {
		t.Fatalf("results %+v", res)
	}
	// Failed ones are not retried before RetryAfter; web01 has its agent now.
	clk.Advance(14 * time.Minute)
	if got := a.Wanted(ctx, wanted); len(got) != 0 {
		t.Fatalf("retried early: %v", got)
	}
	clk.Advance(time.Minute)
	if got := a.Wanted(ctx, wanted); !slices.Equal(got, []string{"db01", "ghost"}) {
		t.Fatalf("retry: %v", got)
	}
	a.Wait()
	if _, err := NewAuto(AutoConfig{}); err == nil || !errors.Is(err, err) || err.Error() != "auto push: push, resolve and has-agent are required" {
		t.Fatal(err)
	}
}
