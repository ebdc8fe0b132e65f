package pushinstall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// remote is one SSH connection to a machine, with commands run as the account's user.
type remote struct {
	addr string
	c    *ssh.Client
	sudo string // "sudo -n " for a user other than root
}

// ErrLogin is wrapped when the machine refuses the account.
var ErrLogin = errors.New("wrong user name, password or key")

func dial(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*remote, error) {
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, unwrapOp(err))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("ssh login to %s as %s refused: %w", addr, cfg.User, ErrLogin)
		}
		return nil, fmt.Errorf("ssh to %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	r := &remote{addr: addr, c: ssh.NewClient(sc, chans, reqs)}
	if cfg.User != "root" {
		r.sudo = "sudo -n "
	}
	return r, nil
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func (r *remote) Close() error { return r.c.Close() }

// run runs a shell command (as root: through sudo -n for other users) and returns its standard
// output; a non-zero exit is an error that carries the command's standard error.
func (r *remote) run(ctx context.Context, cmd string) (string, error) {
	return r.exec(ctx, r.sudo+"sh -c "+quote(cmd))
}

// runUser runs a command as the login user (no sudo).
func (r *remote) runUser(ctx context.Context, cmd string) (string, error) {
	return r.exec(ctx, cmd)
}

func (r *remote) exec(ctx context.Context, cmd string) (string, error) {
	s, err := r.c.NewSession()
	if err != nil {
		return "", fmt.Errorf("ssh session on %s: %w", r.addr, err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGKILL)
		s.Close()
		return "", ctx.Err()
	case err = <-done:
	}
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			return out.String(), &cmdError{status: ee.ExitStatus(), msg: msg}
		}
		return out.String(), fmt.Errorf("%w: %s", err, msg)
	}
	return out.String(), nil
}

type cmdError struct {
	status int
	msg    string
}

func (e *cmdError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("exit status %d", e.status)
	}
	return e.msg
}

// upload writes src to path on the machine (mode 0600 until it is checked) over SFTP. With sudo,
// SFTP runs as the user, so the file goes to the user's temporary directory and is moved later.
func (r *remote) upload(ctx context.Context, path string, src io.Reader) error {
	c, err := sftp.NewClient(r.c, sftp.UseConcurrentWrites(true))
	if err != nil {
		return fmt.Errorf("sftp to %s: %w", r.addr, err)
	}
	defer c.Close()
	f, err := c.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("sftp create %s on %s: %w", path, r.addr, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("sftp chmod %s: %w", path, err)
	}
	if _, err := f.ReadFrom(ctxReader{ctx, src}); err != nil {
		f.Close()
		return fmt.Errorf("sftp write %s on %s: %w", path, r.addr, err)
	}
	return f.Close()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// quote quotes s for a POSIX shell.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
