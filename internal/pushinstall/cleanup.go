package pushinstall

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// createdList is the file where the first install records the directories it created.
func (l Layout) createdList() string { return l.p("opt/osr/created-dirs") }

// missing returns, for each directory a push creates, its outermost ancestor that does not exist
// yet (what the push will create), without duplicates.
func (l Layout) missing(ctx context.Context, r *remote) ([]string, error) {
	var q []string
	for _, d := range l.owned() {
		q = append(q, quote(d))
	}
	out, err := r.run(ctx, `for d in `+strings.Join(q, " ")+`; do t=; p="$d"; while [ ! -e "$p" ]; do t="$p"; p=$(dirname "$p"); done; if [ -n "$t" ]; then echo "$t"; fi; done`)
	if err != nil {
		return nil, fmt.Errorf("look at the machine's directories: %w", err)
	}
	var created []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(created, line) {
			created = append(created, line)
		}
	}
	return created, nil
}

// removable says whether dir may be pruned: an ancestor (or itself) of a directory the agent
// owns, strictly inside the installation root, never the root itself. Only the owned directories
// are removed with their content; above them only empty directories go.
func (l Layout) removable(dir string) bool {
	root := l.p("")
	dir = path.Clean(dir)
	if !path.IsAbs(dir) || dir == root || dir == "/" || !strings.HasPrefix(dir, strings.TrimSuffix(root, "/")+"/") {
		return false
	}
	for _, o := range l.owned() {
		if o == dir || strings.HasPrefix(o, dir+"/") {
			return true
		}
	}
	return false
}

// rollback undoes a failed first install: stops a started agent and removes what was created.
func (l Layout) rollback(ctx context.Context, r *remote, created []string) error {
	err := l.stopSupervised(ctx, r)
	var rm []string
	for _, o := range l.owned() {
		for _, c := range created {
			if o == c || strings.HasPrefix(o, c+"/") {
				rm = append(rm, quote(o))
				break
			}
		}
	}
	if len(rm) == 0 {
		return err
	}
	_, rmErr := r.run(ctx, "rm -rf "+strings.Join(rm, " ")+l.prune(created))
	return errors.Join(err, rmErr)
}

// prune is a command suffix that removes the empty directories left in the created ones.
func (l Layout) prune(created []string) string {
	s := ""
	for _, c := range created {
		if l.removable(c) {
			s += "; [ ! -d " + quote(c) + " ] || find " + quote(c) + " -depth -type d -empty -delete"
		}
	}
	return s
}

// ErrNotInstalled is wrapped by Uninstall on a machine without the agent.
var ErrNotInstalled = errors.New("the mobility service is not installed")

// Uninstall stops the agent's service and removes its files (binary, configuration and
// certificate, state, log) and the directories its first install created. The machine's record on
// the configuration server is not changed here.
func (p *Pusher) Uninstall(ctx context.Context, t Target) error {
	err := p.uninstall(ctx, t)
	if err != nil {
		return fmt.Errorf("machine %s: %w", t.Machine, err)
	}
	return nil
}

func (p *Pusher) uninstall(ctx context.Context, t Target) error {
	r, err := p.connect(ctx, t)
	if err != nil {
		return err
	}
	defer r.Close()
	l := Layout{Root: t.Root}
	if _, err := r.run(ctx, fmt.Sprintf("[ -e %s ] || [ -e %s ]", quote(l.Binary()), quote(l.ConfigDir()))); err != nil {
		return ErrNotInstalled
	}
	if err := l.stopService(ctx, r); err != nil {
		return err
	}
	list, _ := r.run(ctx, "cat "+quote(l.createdList())+" 2>/dev/null || true")
	var created []string
	for _, d := range strings.Split(list, "\n") {
		if d = strings.TrimSpace(d); d != "" {
			created = append(created, d)
		}
	}
	targets := []string{quote(l.p("opt/osr")), quote(l.ConfigDir()), quote(l.StateDir()), quote(l.LogFile()), quote(l.supervisorPID())}
	cmd := "rm -rf " + strings.Join(targets, " ")
	// The eBPF tracker keeps tracking across a clean stop through pins on the machine's own bpffs
	// (not under the test root): unpinning detaches it.
	if t.Machine != "" && !strings.ContainsAny(t.Machine, "/\x00") && t.Machine != "." && t.Machine != ".." {
		cmd += "; rm -rf " + quote("/sys/fs/bpf/osr/"+t.Machine)
	}
	for _, d := range []string{"etc/osr", "var/lib/osr", "var/log/osr"} { // kept if something else lives there
		cmd += "; rmdir " + quote(l.p(d)) + " 2>/dev/null"
	}
	if _, err := r.run(ctx, cmd+l.prune(created)+"; true"); err != nil {
		return fmt.Errorf("remove the agent's files: %w", err)
	}
	p.log.InfoContext(ctx, "mobility service uninstalled", "machine", t.Machine, "address", t.Address)
	return nil
}
