//go:build !linux

package wire

import (
	"net"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not available: keepalive and the
// endpoints' read deadlines find dead peers there.
func setUserTimeout(*net.TCPConn, time.Duration) error { return nil }
