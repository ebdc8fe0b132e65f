package bootcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opensiterecovery/osr/internal/target"
)

// DecodeDefinition reads a machine definition (docs/formats/machine-definition.md) strictly: one
// JSON object of version 1, no unknown fields, a name and at least one disk with a name.
func DecodeDefinition(b []byte) (target.Definition, error) {
	var d target.Definition
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return target.Definition{}, fmt.Errorf("machine definition: %w", err)
	}
	if dec.More() {
		return target.Definition{}, fmt.Errorf("machine definition: data after the JSON object")
	}
	if d.Version != 1 {
		return target.Definition{}, fmt.Errorf("machine definition: version %d is not supported (1)", d.Version)
	}
	if d.Name == "" {
		return target.Definition{}, fmt.Errorf("machine definition: no name")
	}
	if len(d.Disks) == 0 {
		return target.Definition{}, fmt.Errorf("machine definition of %s: no disks", d.Name)
	}
	for i, disk := range d.Disks {
		if disk.Name == "" {
			return target.Definition{}, fmt.Errorf("machine definition of %s: disk %d has no name", d.Name, i)
		}
	}
	return d, nil
}

// CheckFile boots the machine whose definition is the file at path (its relative disk files are
// beside it).
func (c *Checker) CheckFile(ctx context.Context, path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("boot check: %w", err)
	}
	d, err := DecodeDefinition(b)
	if err != nil {
		return nil, fmt.Errorf("boot check: %s: %w", path, err)
	}
	return c.Check(ctx, d, filepath.Dir(path))
}
