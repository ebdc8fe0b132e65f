package vault

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// seqID is an ID that sorts by creation within this service (several in the same clock tick keep
// their order); the counter starts at the wall clock so that replicas interleave sensibly.
func (s *Service) seqID(prefix string) string {
	b := make([]byte, 2)
	rand.Read(b)
	return fmt.Sprintf("%s%016x%s", prefix, s.seq.Add(1), hex.EncodeToString(b))
}

func newID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// timePtr renders a time for JSON: nil when zero.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// checkName validates a name of a vault, policy, machine, configuration server or user.
func checkName(what, s string) error {
	if !nameRE.MatchString(s) {
		return badRequest("%s name %q is not valid: use 1 to 63 characters a-z, 0-9, '.', '-', starting with a letter or digit", what, s)
	}
	return nil
}
