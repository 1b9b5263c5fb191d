// Package link carries activations between tabs without a round trip
// through the NATS server: a BroadcastChannel between tabs of one browser
// (same origin), a WebRTC data channel between browsers and machines.
// Mux implements agent.Link over such transports: the leader names the
// link of each hop in the plan (tabshardv1.Stage.link, from the browser
// id and links each worker reported), and Mux sends over that transport
// alone, connecting on demand when it does not reach the peer yet. NATS,
// which carries every activation anyway, delivers what a link does not.
//
// Messages travel in frames of at most MaxFrame bytes (a WebRTC data
// channel caps a message at 256 KiB); Reassembler puts them back together
// and refuses oversized or malformed frames without disturbing the other
// messages in flight.
package link
