package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/pushinstall"
)

// deployResult is what osr mobility deploy reports.
type deployResult struct {
	Machine string `json:"machine,omitempty"`
	Action  string `json:"action,omitempty"`  // installed or upgraded
	Service string `json:"service,omitempty"` // systemd, supervised or none
	Binary  string `json:"binary,omitempty"`
	Config  string `json:"config,omitempty"`
	Error   string `json:"error,omitempty"`
	Code    int    `json:"exit_code"`
}

// Exit codes of osr mobility deploy.
const (
	deployBadAnswers = 2
	deployRegister   = 3
	deployService    = 4
)

// mobilityDeployCommand is `osr mobility deploy`: the non-interactive local install for
// configuration-management tools, registered under `osr mobility` (with
// mobilityDeployCommands).
func (a *app) mobilityDeployCommand() *cobra.Command {
	var answerFile, self string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Install the mobility service on this machine from an answer file, without questions",
		Long: `Deploy installs this osr binary as /opt/osr/bin/osr, registers the machine with the configuration
server (osr mobility install, with the answer file's settings) unless it is registered already,
and starts the service (systemd, or the supervised process where systemd is not running). Run it
again to upgrade in place. Exit codes: 0 done, 2 bad answer file, 3 registration failed, 4 the
service did not start. --json prints one object with the same fields and exit code.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res := a.deploy(cmd, answerFile, self)
			if asJSON {
				_ = json.NewEncoder(a.stdout).Encode(res)
			} else if res.Code == 0 {
				fmt.Fprintf(a.stdout, "mobility service %s on %s (%s service); configuration %s\n", res.Action, res.Machine, res.Service, res.Config)
			}
			if res.Code != 0 {
				return &exitError{code: res.Code, err: errors.New(res.Error)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&answerFile, "answer-file", "", "YAML answer file (docs/formats/answer-file.md)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&self, "binary", "", "the osr build to install (default: this one)")
	_ = cmd.Flags().MarkHidden("binary")
	_ = cmd.MarkFlagRequired("answer-file")
	return cmd
}

func (a *app) deploy(cmd *cobra.Command, answerFile, self string) deployResult {
	fail := func(r deployResult, code int, err error) deployResult {
		r.Code, r.Error = code, err.Error()
		return r
	}
	var res deployResult
	b, err := os.ReadFile(answerFile)
	if err != nil {
		return fail(res, deployBadAnswers, fmt.Errorf("read answer file: %w", err))
	}
	ans, err := pushinstall.ParseAnswers(b)
	if err != nil {
		return fail(res, deployBadAnswers, err)
	}
	if ans.Machine == "" {
		_, short, err := shortHostname()
		if err != nil {
			return fail(res, deployBadAnswers, err)
		}
		ans.Machine = short
	}
	l := pushinstall.Layout{Root: ans.Root}
	res.Machine, res.Binary, res.Config = ans.Machine, l.Binary(), l.Config()
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return fail(res, deployRegister, err)
		}
	}
	if err := installSelf(self, l.Binary()); err != nil {
		return fail(res, deployRegister, fmt.Errorf("install %s: %w", l.Binary(), err))
	}
	res.Action = "installed"
	if _, err := os.Stat(filepath.Join(l.ConfigDir(), configserver.LinkFile)); err == nil {
		res.Action = "upgraded"
	} else {
		args := []string{"mobility", "install", "--config-server", ans.ConfigServer, "--passphrase-file", ans.PassphraseFile,
			"--name", ans.Machine, "--dir", l.ConfigDir(), "--state-dir", l.StateDir()}
		for _, d := range ans.Disks {
			args = append(args, "--disk", d)
		}
		c := exec.CommandContext(cmd.Context(), l.Binary(), args...)
		var errb bytes.Buffer
		c.Stdout, c.Stderr = io.Discard, &errb
		if err := c.Run(); err != nil {
			msg := strings.TrimPrefix(strings.TrimSpace(errb.String()), "osr: ")
			if msg == "" {
				msg = err.Error()
			}
			return fail(res, deployRegister, errors.New(msg))
		}
	}
	res.Service = "none"
	if ans.Service == "auto" {
		svc, err := pushinstall.StartLocal(cmd.Context(), l)
		if err != nil {
			return fail(res, deployService, err)
		}
		res.Service = svc
	}
	return res
}

// installSelf copies the build to dest (mode 0755) through a temporary file and rename, unless it
// is that file already.
func installSelf(src, dest string) error {
	if a, err := filepath.EvalSymlinks(src); err == nil {
		if b, err := filepath.EvalSymlinks(dest); err == nil && a == b {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".osr.deploy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
