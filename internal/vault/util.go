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

// NewID returns prefix followed by 16 random hex digits: the IDs of the vault's objects and of
// the services that keep theirs in its database.
func NewID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// UnixNano is a time as the vault's tables store it: Unix nanoseconds, 0 for the zero time.
func UnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromUnixNano reads a time stored by UnixNano (in UTC; 0 is the zero time).
func FromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// TimePtr renders a time for JSON: nil when zero.
func TimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// CheckName validates the name of a vault object (vault, policy, machine, configuration server,
// user, target, NIC): a 400 that says what a name may be, or nil.
func CheckName(what, s string) error {
	if !nameRE.MatchString(s) {
		return badRequest("%s name %q is not valid: use 1 to 63 characters a-z, 0-9, '.', '-', starting with a letter or digit", what, s)
	}
	return nil
}

// Short names the package's own code uses.
func newID(prefix string) string     { return NewID(prefix) }
func ns(t time.Time) int64           { return UnixNano(t) }
func fromNS(n int64) time.Time       { return FromUnixNano(n) }
func timePtr(t time.Time) *time.Time { return TimePtr(t) }
func checkName(what, s string) error { return CheckName(what, s) }
