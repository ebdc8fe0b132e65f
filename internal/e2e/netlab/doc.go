// Package netlab builds a small network of hosts on one Linux machine for multi-host tests: each
// host is a network namespace joined by a veth pair to one bridge in the test's namespace, all on
// a private /24 of 10.233.0.0/16 that exists only inside this machine; the test's side is the
// gateway (.1) and reaches every host. It injects the faults a WAN and a data centre have: a cut
// link and packet loss (nftables rules inside the host), a bandwidth cap (tc tbf on both ends of
// its link). Added delay is not here (netem is not available): put a proxy such as
// internal/e2e/faultproxy on the path. It needs root, ip (iproute2), nft (nftables) and tc.
// Everything it creates is removed when the test ends, processes left in a namespace included.
package netlab
