package pushinstall

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Answers is the answer file of a non-interactive local install (osr mobility deploy), for
// configuration-management tools. Format: docs/formats/answer-file.md.
type Answers struct {
	ConfigServer   string   `yaml:"config_server"`   // HOST[:PORT]
	PassphraseFile string   `yaml:"passphrase_file"` // file holding the passphrase
	Machine        string   `yaml:"machine"`         // default: the short host name
	Disks          []string `yaml:"disks"`           // NAME=PATH
	Root           string   `yaml:"root"`            // installation root; default /
	Service        string   `yaml:"service"`         // auto (default), none
}

const maxAnswers = 64 << 10

// ParseAnswers reads and checks an answer file: unknown keys, a missing required one or a bad
// value are errors, and nothing is returned then.
func ParseAnswers(b []byte) (Answers, error) {
	var a Answers
	if len(b) > maxAnswers {
		return a, fmt.Errorf("answer file: %d bytes, more than %d", len(b), maxAnswers)
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&a); err != nil {
		return Answers{}, fmt.Errorf("answer file: %w", err)
	}
	var extra any
	if err := d.Decode(&extra); err == nil {
		return Answers{}, errors.New("answer file: more than one document")
	}
	switch {
	case a.ConfigServer == "":
		return Answers{}, errors.New("answer file: config_server is required")
	case a.PassphraseFile == "":
		return Answers{}, errors.New("answer file: passphrase_file is required")
	case len(a.Disks) == 0:
		return Answers{}, errors.New("answer file: disks is required (NAME=PATH, one or more)")
	}
	if strings.ContainsAny(a.ConfigServer, " /\t\n") {
		return Answers{}, fmt.Errorf("answer file: config_server %q: want HOST or HOST:PORT", a.ConfigServer)
	}
	for _, dk := range a.Disks {
		n, p, ok := strings.Cut(dk, "=")
		if !ok || n == "" || !path.IsAbs(p) {
			return Answers{}, fmt.Errorf("answer file: disk %q: want NAME=/absolute/path", dk)
		}
	}
	if a.Root == "" {
		a.Root = "/"
	}
	if !path.IsAbs(a.Root) || path.Clean(a.Root) != a.Root {
		return Answers{}, fmt.Errorf("answer file: root %q: want a clean absolute path", a.Root)
	}
	switch a.Service {
	case "":
		a.Service = "auto"
	case "auto", "none":
	default:
		return Answers{}, fmt.Errorf("answer file: service %q: want auto or none", a.Service)
	}
	return a, nil
}
