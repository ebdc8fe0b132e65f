package main

import (
	"github.com/opensiterecovery/osr/internal/mobility"
	"github.com/opensiterecovery/osr/internal/progress"
)

// sizeFlag is a byte count given with an optional unit (50GiB, 600GB); 0 is unset.
type sizeFlag int64

func (s *sizeFlag) String() string {
	if *s == 0 {
		return "0"
	}
	return progress.FormatBytes(int64(*s))
}

func (s *sizeFlag) Set(v string) error {
	n, err := mobility.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func (s *sizeFlag) Type() string { return "size" }
