package mobility

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Size is a number of bytes written with an optional unit: 4096, 64KiB, 256MiB, 1GiB, 10MB.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseSize parses a size.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("bad size %q (want a number with an optional unit: KiB, MiB, GiB, KB, MB, GB)", s)
	}
	return Size(v * float64(mult)), nil
}

// UnmarshalYAML parses a size from a number or a string.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

// Rate is a bandwidth in bytes per second; 0 means unlimited.
type Rate int64

// ParseRate parses "unlimited", "0", or a size per second: "10MB/s", "40MiB/s", "100Mbit/s".
func ParseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	if t == "unlimited" || t == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(t, "bit/s"); ok {
		for _, u := range []struct {
			p string
			m float64
		}{{"K", 1e3}, {"M", 1e6}, {"G", 1e9}} {
			if v, ok := strings.CutSuffix(n, u.p); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err == nil && f > 0 {
					return Rate(f * u.m / 8), nil
				}
			}
		}
		return 0, fmt.Errorf("bad rate %q (want unlimited, or a size per second such as 10MB/s or 100Mbit/s)", s)
	}
	n, ok := strings.CutSuffix(t, "/s")
	if !ok {
		return 0, fmt.Errorf("bad rate %q (want unlimited, or a size per second such as 10MB/s or 100Mbit/s)", s)
	}
	v, err := ParseSize(n)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad rate %q (want unlimited, or a size per second such as 10MB/s or 100Mbit/s)", s)
	}
	return Rate(v), nil
}

// UnmarshalYAML parses a rate.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseRate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*r = v
	return nil
}

// String formats the rate for status and logs.
func (r Rate) String() string {
	if r == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.1f MB/s", float64(r)/1e6)
}
