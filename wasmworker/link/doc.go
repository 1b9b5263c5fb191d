// Package link carries activations between tabs without a round trip
// through the NATS server: a BroadcastChannel between tabs of one browser
// (same origin), a WebRTC data channel between browsers and machines.
// Mux implements agent.Link over such transports and picks one per peer:
// BroadcastChannel when the peer is a tab of this browser, else an open
// WebRTC data channel, else none (NATS, which carries every activation
// anyway, delivers it).
//
// Messages travel in frames of at most MaxFrame bytes (a WebRTC data
// channel caps a message at 256 KiB); Reassembler puts them back together
// and refuses oversized or malformed frames without disturbing the other
// messages in flight.
package link
