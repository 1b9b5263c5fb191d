// Package bus is the bus protocol that coordinators and workers share, on NATS: an embedded server (TCP
// for native workers, WebSocket for browser tabs, JetStream for the
// activation log), the cluster's subject names, protobuf publish, request and
// subscribe helpers, and the activation log that lets a standby rebuild a
// stage's KV cache after a failover.
//
// The server half (server.go) is native only. Everything else builds for
// GOOS=js GOARCH=wasm too, so a worker tab uses the same subjects, messages
// and log replay as a native worker; the tab supplies its own WebSocket
// dialer as a nats.Option to Connect.
package bus
