package pushinstall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/accounts"
	"github.com/opensiterecovery/osr/internal/installrepo"
)

// Secrets gives the secret of a stored account. *accounts.Store implements it.
type Secrets interface {
	// Secret returns the account and its decrypted secret; the caller must not log or keep it.
	Secret(ctx context.Context, name string) (accounts.Account, []byte, error)
}

// Builds gives the agent build for a platform, checked against its checksum.
// *installrepo.Repo implements it.
type Builds interface {
	Open(ctx context.Context, p installrepo.Platform) (*installrepo.Build, error)
}

// Config wires a Pusher.
type Config struct {
	Secrets      Secrets
	Builds       Builds
	KnownHosts   *KnownHosts
	Heartbeats   Heartbeats
	ConfigServer string // HOST:PORT agents reach the configuration server at
	Passphrase   string // the configuration server's passphrase

	Parallel         int           // machines at once in PushAll; default 8
	DialTimeout      time.Duration // TCP connect and SSH handshake; default 15 s
	HeartbeatTimeout time.Duration // wait for Connected after the service starts; default 2 minutes
	PushTimeout      time.Duration // one machine's whole push, heartbeat included; default 10 minutes
	Clock            clock.Clock
	Logger           *slog.Logger
}

// Target is one machine to push to.
type Target struct {
	Machine string   // name it registers under
	Address string   // HOST or HOST:PORT (SSH, port 22 by default)
	Account string   // an ssh account of the configuration server
	Disks   []string // NAME=PATH to protect; default every whole disk lsblk lists
	Root    string   // installation root on the machine; default "/"
}

// Result is the outcome of one push: a job's result.
type Result struct {
	Machine  string        `json:"machine"`
	Address  string        `json:"address"`
	Action   string        `json:"action,omitempty"` // installed or upgraded
	Platform string        `json:"platform,omitempty"`
	SHA256   string        `json:"sha256,omitempty"`
	Service  string        `json:"service,omitempty"` // systemd or supervised
	Status   string        `json:"status,omitempty"`  // the configuration server's rating at the end
	Duration time.Duration `json:"duration_ns"`
	Err      error         `json:"-"`
	Error    string        `json:"error,omitempty"`
}

// Pusher pushes the mobility service to machines.
type Pusher struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Pusher.
func New(cfg Config) (*Pusher, error) {
	switch {
	case cfg.Secrets == nil, cfg.Builds == nil, cfg.KnownHosts == nil, cfg.Heartbeats == nil:
		return nil, errors.New("push install: secrets, builds, known hosts and heartbeats are required")
	case cfg.ConfigServer == "":
		return nil, errors.New("push install: no configuration server address for the agents")
	case cfg.Passphrase == "":
		return nil, errors.New("push install: no passphrase")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 15 * time.Second
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 2 * time.Minute
	}
	if cfg.PushTimeout == 0 {
		cfg.PushTimeout = 10 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Pusher{cfg: cfg, log: cfg.Logger}, nil
}

// PushAll pushes to every target, at most Config.Parallel at once, and returns the results in the
// order of targets. One machine's failure does not stop the others.
func (p *Pusher) PushAll(ctx context.Context, targets []Target) []Result {
	out := make([]Result, len(targets))
	sem := make(chan struct{}, p.cfg.Parallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = Result{Machine: t.Machine, Address: t.Address, Err: ctx.Err(), Error: ctx.Err().Error()}
				return
			}
			defer func() { <-sem }()
			out[i] = p.Push(ctx, t)
		}()
	}
	wg.Wait()
	return out
}

// Push installs or upgrades the mobility service on one machine. Result.Err says why it failed,
// prefixed with the machine's name.
func (p *Pusher) Push(ctx context.Context, t Target) Result {
	start := p.cfg.Clock.Now()
	res := Result{Machine: t.Machine, Address: t.Address}
	pctx, cancel := context.WithTimeout(ctx, p.cfg.PushTimeout)
	defer cancel()
	err := p.push(pctx, t, &res)
	res.Duration = p.cfg.Clock.Now().Sub(start)
	if err != nil {
		res.Err = fmt.Errorf("machine %s: %w", t.Machine, err)
		res.Error = res.Err.Error()
		p.log.WarnContext(ctx, "push install failed", "machine", t.Machine, "address", t.Address, "err", err)
	} else {
		p.log.InfoContext(ctx, "push install done", "machine", t.Machine, "action", res.Action, "service", res.Service)
	}
	return res
}

// ErrWinRM is the answer for Windows accounts.
var ErrWinRM = errors.New("WinRM push is not available: install the agent manually with osr mobility install")

func (p *Pusher) connect(ctx context.Context, t Target) (*remote, error) {
	acc, secret, err := p.cfg.Secrets.Secret(ctx, t.Account)
	if err != nil {
		return nil, err
	}
	switch acc.Type {
	case accounts.SSH:
	case accounts.Windows:
		return nil, ErrWinRM
	default:
		return nil, fmt.Errorf("account %s is a %s account; push install needs an ssh account", acc.Name, acc.Type)
	}
	var auth ssh.AuthMethod
	if acc.SecretKind == accounts.Key {
		signer, err := ssh.ParsePrivateKey(secret)
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", acc.Name, err)
		}
		auth = ssh.PublicKeys(signer)
	} else {
		pw := string(secret)
		// Password, or keyboard-interactive answering every prompt with it (sshd with PAM).
		auth = ssh.RetryableAuthMethod(ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			ans := make([]string, len(qs))
			for i := range ans {
				ans[i] = pw
			}
			return ans, nil
		}), 1)
		return p.dialWith(ctx, t, acc.User, ssh.Password(pw), auth)
	}
	return p.dialWith(ctx, t, acc.User, auth)
}

func (p *Pusher) dialWith(ctx context.Context, t Target, user string, auth ...ssh.AuthMethod) (*remote, error) {
	addr := t.Address
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "22")
	}
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	return dial(dctx, addr, &ssh.ClientConfig{User: user, Auth: auth,
		HostKeyCallback: p.cfg.KnownHosts.Callback(), Timeout: p.cfg.DialTimeout})
}

// platform maps `uname -sm` to a build.
func platform(uname string) (installrepo.Platform, error) {
	f := strings.Fields(uname)
	if len(f) == 2 && f[0] == "Linux" {
		switch f[1] {
		case "x86_64", "amd64":
			return installrepo.LinuxAMD64, nil
		case "aarch64", "arm64":
			return installrepo.LinuxARM64, nil
		}
	}
	return installrepo.Platform{}, fmt.Errorf("unsupported operating system %q: push install supports Linux on x86_64 and aarch64 (Windows: install manually)", strings.TrimSpace(uname))
}

func (p *Pusher) push(ctx context.Context, t Target, res *Result) error {
	if t.Machine == "" {
		return errors.New("no machine name")
	}
	r, err := p.connect(ctx, t)
	if err != nil {
		return err
	}
	defer r.Close()
	l := Layout{Root: t.Root}
	uname, err := r.runUser(ctx, "uname -sm")
	if err != nil {
		return fmt.Errorf("detect the operating system: %w", err)
	}
	plat, err := platform(uname)
	if err != nil {
		return err
	}
	res.Platform = plat.String()
	build, err := p.cfg.Builds.Open(ctx, plat)
	if err != nil {
		return err
	}
	defer build.File.Close()
	res.SHA256 = build.SHA256

	link := path.Join(l.ConfigDir(), configserver.LinkFile)
	_, err = r.run(ctx, "[ -f "+quote(link)+" ]")
	upgrade := err == nil
	res.Action = "installed"
	if upgrade {
		res.Action = "upgraded"
	}
	disks := t.Disks
	if !upgrade && len(disks) == 0 {
		if disks, err = detectDisks(ctx, r); err != nil {
			return err
		}
	}

	// What this push creates, so that a failure can remove it.
	created, err := l.missing(ctx, r)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok && !upgrade {
			if cerr := l.rollback(context.WithoutCancel(ctx), r, created); cerr != nil {
				p.log.ErrorContext(ctx, "push install: cleaning up after a failure", "machine", t.Machine, "err", cerr)
			}
		}
	}()

	// Stage the build and the passphrase in a private directory of the login user.
	stage, err := r.runUser(ctx, "umask 077 && mktemp -d /tmp/osr-push.XXXXXXXX")
	if err != nil {
		return fmt.Errorf("create a staging directory: %w", err)
	}
	stage = strings.TrimSpace(stage)
	defer func() { _, _ = r.runUser(context.WithoutCancel(ctx), "rm -rf "+quote(stage)) }()
	if err := r.upload(ctx, stage+"/osr", build.File); err != nil {
		return err
	}
	sum, err := r.runUser(ctx, "sha256sum "+quote(stage+"/osr"))
	if err != nil {
		return fmt.Errorf("checksum on the machine: %w", err)
	}
	if got := strings.Fields(sum); len(got) == 0 || got[0] != build.SHA256 {
		return fmt.Errorf("the copied build's SHA-256 is %s, the install repository's %s: copy damaged, nothing installed", firstField(sum), build.SHA256)
	}
	bin := l.Binary()
	cmd := fmt.Sprintf("mkdir -p %s && chmod 0755 %s && mv -f %s %s", quote(path.Dir(bin)), quote(stage+"/osr"), quote(stage+"/osr"), quote(bin))
	if !upgrade { // what uninstall removes: the directories the first install created
		cmd += fmt.Sprintf(" && printf '%%s\\n' %s > %s", quote(strings.Join(created, "\n")), quote(l.createdList()))
	}
	if _, err := r.run(ctx, cmd); err != nil {
		if !upgrade {
			return fmt.Errorf("install the binary: %w", err)
		}
		return fmt.Errorf("replace the binary: %w", err)
	}

	if !upgrade {
		if err := r.upload(ctx, stage+"/passphrase", strings.NewReader(p.cfg.Passphrase+"\n")); err != nil {
			return err
		}
		args := []string{quote(bin), "mobility", "install", "--config-server", quote(p.cfg.ConfigServer), "--passphrase-file", quote(stage + "/passphrase"),
			"--name", quote(t.Machine), "--dir", quote(l.ConfigDir()), "--state-dir", quote(l.StateDir())}
		for _, d := range disks {
			args = append(args, "--disk", quote(d))
		}
		if _, err := r.run(ctx, strings.Join(args, " ")); err != nil {
			msg := strings.TrimPrefix(err.Error(), "osr: ")
			msg = strings.TrimPrefix(msg, "register with the configuration server at "+p.cfg.ConfigServer+": ")
			return fmt.Errorf("register with the configuration server at %s: %s", p.cfg.ConfigServer, msg)
		}
	}
	svc, err := l.startService(ctx, r)
	if err != nil {
		return err
	}
	res.Service = svc
	ok = true // from here on the agent is installed: a missing heartbeat is reported, not undone
	st, err := p.waitConnected(ctx, t.Machine)
	res.Status = string(st)
	return err
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

func (p *Pusher) waitConnected(ctx context.Context, machine string) (configserver.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HeartbeatTimeout)
	defer cancel()
	var last configserver.Status
	var why string
	var lastErr error
	for {
		st, reason, err := p.cfg.Heartbeats.AgentStatus(ctx, machine)
		if err == nil && st == configserver.Connected {
			return st, nil
		}
		last, why, lastErr = st, reason, err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("the mobility service is installed but its heartbeat was not confirmed within %s: %w", p.cfg.HeartbeatTimeout, lastErr)
			}
			return last, fmt.Errorf("the mobility service is installed but the configuration server rates it %s after %s: %s", last, p.cfg.HeartbeatTimeout, why)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func detectDisks(ctx context.Context, r *remote) ([]string, error) {
	out, err := r.runUser(ctx, "lsblk -dn -o NAME,TYPE")
	if err != nil {
		return nil, fmt.Errorf("list disks with lsblk: %w", err)
	}
	var disks []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == "disk" {
			disks = append(disks, f[0]+"=/dev/"+f[0])
		}
	}
	if len(disks) == 0 {
		return nil, errors.New("lsblk lists no disk: give the disks to protect")
	}
	return disks, nil
}
