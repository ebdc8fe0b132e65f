package wire

import (
	"net"
	"time"
)

// DeadPeerTimeout is how long the data path lets a connection go silent before it is taken for
// dead: a peer that vanished without a reset (powered off, a cut link, a firewall that drops).
// Both ends ping every DeadPeerTimeout/4, so a live peer is never silent that long.
const DeadPeerTimeout = 60 * time.Second

// TuneTCP sets up the TCP connection under c (c itself or, for TLS, its NetConn) so that the
// kernel, too, gives up on a dead peer: keepalive probes after idle/4 of silence, and where the
// system has it, TCP_USER_TIMEOUT so that data unacknowledged for idle ends the connection even
// while the application is not reading (backpressure) or is blocked writing. A connection that is
// not TCP is left alone. It returns the first error of the socket options.
func TuneTCP(c net.Conn, idle time.Duration) error {
	type netConner interface{ NetConn() net.Conn }
	for {
		nc, ok := c.(netConner)
		if !ok {
			break
		}
		c = nc.NetConn()
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	probe := max((idle / 4).Truncate(time.Second), time.Second)
	if err := tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: probe, Interval: probe, Count: 4}); err != nil {
		return err
	}
	return setUserTimeout(tc, idle)
}
