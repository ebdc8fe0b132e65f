package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/progress"
)

// processServerScaleOutCommands are `osr process-server switch`, `balance` and `scale-out`:
// moving machines between the process servers of the configuration server running on this
// host, through its admin socket. Registered under `process-server` (pipeline_ps.go).
func (a *app) processServerScaleOutCommands() []*cobra.Command {
	return []*cobra.Command{a.psSwitchCommand(), a.psBalanceCommand(), a.psScaleOutCommand()}
}

const balancePath = "/v1/scale-out/balance"

type movesFlags struct {
	dataDir string
	yes     bool
	asJSON  bool
}

func (f *movesFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dataDir, "data-dir", configserver.DefaultDataDir, "configuration server data directory")
	cmd.Flags().BoolVar(&f.yes, "yes", false, "apply without asking")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "JSON output (without --yes: the plan only)")
}

func (a *app) psSwitchCommand() *cobra.Command {
	var f movesFlags
	var from, to string
	cmd := &cobra.Command{
		Use:   "switch --from PS --to PS [MACHINE ...]",
		Short: "Move machines (all of --from's when none are named) to another process server",
		Long: `Shows each machine's average change rate and the cache space it needs on the target (its
backlog plus 30 minutes of its change), then moves the machines once confirmed (--yes: without
asking). The agents reconnect to the new process server within seconds and keep their tracking:
nothing is resynchronised, and what the old process server had not committed is sent again.`,
		RunE: func(cmd *cobra.Command, machines []string) error {
			if from == "" || to == "" {
				return errors.New("--from and --to are required")
			}
			return a.applyMoves(cmd, f, "/v1/scale-out/switch", func(apply bool) any {
				return configserver.SwitchRequest{From: from, To: to, Machines: machines, Apply: apply}
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "process server the machines are on")
	cmd.Flags().StringVar(&to, "to", "", "process server they move to")
	f.add(cmd)
	return cmd
}

func (a *app) psBalanceCommand() *cobra.Command {
	var f movesFlags
	cmd := &cobra.Command{
		Use:   "balance [PS ...]",
		Short: "Even out the change rate across process servers (the named ones, or all that may take machines)",
		Long: `Plans moves that narrow the gap between the most and the least loaded process server, by
average change rate (machines that change little count by number), never onto a process server
whose cache would fall under 30 % free; shows them with each machine's change rate and cache
need, and applies them once confirmed (--yes: without asking).`,
		RunE: func(cmd *cobra.Command, names []string) error {
			return a.applyMoves(cmd, f, balancePath, func(apply bool) any {
				return configserver.BalanceRequest{ProcessServers: names, Apply: apply}
			})
		},
	}
	f.add(cmd)
	return cmd
}

// applyMoves plans, shows, asks and applies.
func (a *app) applyMoves(cmd *cobra.Command, f movesFlags, path string, req func(apply bool) any) error {
	sock := filepath.Join(f.dataDir, configserver.AdminSocket)
	var plan configserver.MovesAnswer
	if err := adminCall(cmd.Context(), sock, http.MethodPost, path, req(f.yes), &plan); err != nil {
		if path == balancePath && strings.HasSuffix(err.Error(), ": "+configserver.ErrNoMove.Error()) {
			fmt.Fprintf(a.stdout, "Nothing moved: %s.\n", strings.TrimSuffix(err.Error(), ": "+configserver.ErrNoMove.Error()))
			return nil // balanced already: not a failure (a balance may run from a schedule)
		}
		return err
	}
	if f.asJSON && !f.yes {
		return writeJSONOut(a.stdout, plan) // the plan only: JSON output is not interactive
	}
	if !f.asJSON {
		writeMoves(a.stdout, plan.Moves)
	}
	if !f.yes {
		fmt.Fprintf(a.stdout, "Move %d machines? [y/N] ", len(plan.Moves))
		line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
			fmt.Fprintln(a.stdout, "Nothing moved.")
			return nil
		}
		if err := adminCall(cmd.Context(), sock, http.MethodPost, path, req(true), &plan); err != nil {
			return err
		}
	}
	if f.asJSON {
		return writeJSONOut(a.stdout, plan)
	}
	fmt.Fprintf(a.stdout, "Moved %d machines: their agents reconnect to the new process server within seconds, without a resync.\n", len(plan.Moves))
	return nil
}

func writeMoves(w io.Writer, moves []configserver.Move) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tFROM\tTO\tCHANGE RATE (AVG)\tCACHE NEEDED\tTARGET CACHE FREE AFTER")
	for _, m := range moves {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/s\t%s\t%.0f%%\n", m.Machine, m.From, m.To, progress.FormatBytes(int64(m.ChurnBytesPerS)),
			progress.FormatBytes(m.CacheNeedBytes), m.TargetCacheFreePercent)
	}
	tw.Flush()
}

func (a *app) psScaleOutCommand() *cobra.Command {
	var dataDir string
	var asJSON bool
	var automatic string
	var lost, unreachable, overload, settle, hold time.Duration
	var budget, siteBudget int
	cmd := &cobra.Command{
		Use:   "scale-out",
		Short: "Process server load, automatic moves, the resync budget and its queue; flags change the settings",
		Long: `Shows each process server's machines, change rate, cache and resync slots, the machines waiting
for a slot of the resync budget, and the moves made. Flags change the settings, kept in
DATA-DIR/scale-out.json:
  --automatic on|off     move machines off lost and overloaded process servers by itself
  --lost-after D         no heartbeat for this long: lost (default 1m30s, 3 missed heartbeats)
  --unreachable-after D  every replicating agent of it cannot reach it for this long: lost
  --overload-after D     rated Critical for this long: it sheds one machine, then waits --settle
  --hold D               a moved machine stays, a failed process server takes none, for this long
  --resync-budget N      initial replications and resyncs at once per process server (0: no cap)
  --site-resync-budget N the same for all process servers of this configuration server`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sock := filepath.Join(dataDir, configserver.AdminSocket)
			var v configserver.ScaleOutView
			if err := adminCall(cmd.Context(), sock, http.MethodGet, "/v1/scale-out", nil, &v); err != nil {
				return err
			}
			set, changed := v.Settings, false
			fl := cmd.Flags()
			if fl.Changed("automatic") {
				switch automatic {
				case "on", "true":
					set.Automatic = true
				case "off", "false":
					set.Automatic = false
				default:
					return fmt.Errorf("--automatic %q: on or off", automatic)
				}
				changed = true
			}
			for _, d := range []struct {
				flag string
				v    time.Duration
				to   *int64
			}{{"lost-after", lost, &set.LostAfterSeconds}, {"unreachable-after", unreachable, &set.UnreachableAfterSeconds},
				{"overload-after", overload, &set.OverloadAfterSeconds}, {"settle", settle, &set.SettleSeconds}, {"hold", hold, &set.HoldSeconds}} {
				if fl.Changed(d.flag) {
					*d.to, changed = int64(d.v/time.Second), true
				}
			}
			if fl.Changed("resync-budget") {
				set.ResyncBudgetPerProcessServer, changed = budget, true
			}
			if fl.Changed("site-resync-budget") {
				set.ResyncBudgetPerSite, changed = siteBudget, true
			}
			if changed {
				if err := adminCall(cmd.Context(), sock, http.MethodPut, "/v1/scale-out/settings", set, &v.Settings); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSONOut(a.stdout, v)
			}
			writeScaleOut(a.stdout, &v, a.clock.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", configserver.DefaultDataDir, "configuration server data directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	cmd.Flags().StringVar(&automatic, "automatic", "", "on or off")
	cmd.Flags().DurationVar(&lost, "lost-after", 0, "")
	cmd.Flags().DurationVar(&unreachable, "unreachable-after", 0, "")
	cmd.Flags().DurationVar(&overload, "overload-after", 0, "")
	cmd.Flags().DurationVar(&settle, "settle", 0, "")
	cmd.Flags().DurationVar(&hold, "hold", 0, "")
	cmd.Flags().IntVar(&budget, "resync-budget", 0, "")
	cmd.Flags().IntVar(&siteBudget, "site-resync-budget", 0, "")
	return cmd
}

func writeScaleOut(w io.Writer, v *configserver.ScaleOutView, now time.Time) {
	s := v.Settings
	auto := "off"
	if s.Automatic {
		auto = "on"
	}
	cap := func(n int) string {
		if n == 0 {
			return "no cap"
		}
		return fmt.Sprint(n)
	}
	fmt.Fprintf(w, "Automatic moves %s: lost after %s without a heartbeat or %s unreachable for its agents; overloaded after %s Critical (then one machine every %s); hold %s.\n",
		auto, secs(s.LostAfterSeconds), secs(s.UnreachableAfterSeconds), secs(s.OverloadAfterSeconds), secs(s.SettleSeconds), secs(s.HoldSeconds))
	fmt.Fprintf(w, "Resync budget: %s per process server, %s for the site.\n\n", cap(s.ResyncBudgetPerProcessServer), cap(s.ResyncBudgetPerSite))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS SERVER\tSTATUS\tMACHINES\tCHANGE RATE\tCACHE FREE\tRESYNC SLOTS\tDETAIL")
	for _, p := range v.ProcessServers {
		detail := join(p.Reason, join(p.Lost, p.Overloaded))
		if !p.Eligible {
			detail = join(detail, "takes no machines automatically")
		}
		slots := fmt.Sprintf("%d of %s", p.ResyncSlotsUsed, cap(p.ResyncSlots))
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s/s\t%.0f%%\t%s\t%s\n", p.Name, p.Status, p.Machines, progress.FormatBytes(int64(p.ChurnBytesPerS)),
			p.CacheFreePercent, slots, dash(detail))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "MACHINE\tPROCESS SERVER\tSTATE\tCHANGE RATE (AVG)\tCACHE NEEDED\tMOVED")
	for _, m := range v.Machines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/s\t%s\t%s\n", m.Machine, dash(m.ProcessServer), dash(m.State), progress.FormatBytes(int64(m.ChurnBytesPerS)),
			progress.FormatBytes(m.CacheNeedBytes), movedAgo(m.MovedAt, now))
	}
	tw.Flush()
	if len(v.Queue) > 0 {
		fmt.Fprintf(w, "\nWaiting for a resync slot, in order: ")
		var q []string
		for _, e := range v.Queue {
			q = append(q, fmt.Sprintf("%s (on %s, since %s)", e.Machine, e.ProcessServer, now.Sub(e.Since).Truncate(time.Second)))
		}
		fmt.Fprintln(w, strings.Join(q, ", "))
	}
	if len(v.Events) > 0 {
		fmt.Fprintln(w, "\nMoves:")
		for _, e := range v.Events {
			how := "by an operator"
			if e.Automatic {
				how = "automatically"
			}
			fmt.Fprintf(w, "  %s  %s  %s → %s %s: %s\n", e.Time.Format(time.RFC3339), e.Machine, e.From, e.To, how, e.Reason)
		}
	}
}

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

func movedAgo(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return ago(t, now)
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// adminCall makes one call on the configuration server's admin socket; an error answer becomes
// its message.
func adminCall(ctx context.Context, sock, method, path string, in, out any) error {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://config-server"+path, body)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("the configuration server is not running (no answer on %s): %w", sock, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("configuration server: HTTP %d: %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode the configuration server's answer: %w", err)
	}
	return nil
}
