// Package processserver is the replication gateway of the source site. Agents connect over TLS 1.3
// with mutual authentication (port 9443) and stream their points in the wire protocol
// (internal/wire); the server verifies every frame and block, appends the raw frames to a disk cache
// and fsyncs it before it answers Durable, uploads each point from the cache into the replica store
// while it still arrives, commits the points of each machine in seq order, tells the agent Committed,
// and frees the cache. After a restart it replays the cache: complete points are committed,
// incomplete ones dropped (their agents were never told Durable and resend them).
//
// When the cache fills up or uploads back up, the server stops reading from agents (TCP pushes
// back) and tells them why in Status frames; nothing fails. A separate HTTP listener serves
// /health (JSON) and /metrics (Prometheus). See docs/process-server.md.
package processserver
