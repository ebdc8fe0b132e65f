//go:build !linux

package netlab

import "testing"

// NetworkStill does nothing where there are no labs.
func NetworkStill(testing.TB) {}

// Changing does nothing where there are no labs.
func Changing(testing.TB) (done func()) { return func() {} }
