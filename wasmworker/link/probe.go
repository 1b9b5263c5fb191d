package link

import (
	"encoding/binary"
	"sort"
	"strings"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Frames that measure a link: a ping carries an 8-byte nonce, its pong
// the same nonce back over the same transport. Half the round trip is the
// link's latency, which the worker reports in its heartbeats for the
// planner.
const (
	KindPing = 3
	KindPong = 4
)

// Probe bounds.
const (
	// maxOutstanding bounds the pings awaiting their pong per peer; an
	// older one is forgotten (its pong then counts for nothing).
	maxOutstanding = 8
	// latencyWeight is the weight of a new measurement in the running
	// latency (an exponentially weighted mean).
	latencyWeight = 0.25
	// probeStale forgets a peer's latency not measured again this long.
	probeStale = time.Minute
)

// peerLister is a Transport that knows which peers it reaches now
// (BroadcastChannel's tabs that said hello, WebRTC's open channels).
type peerLister interface{ Peers() []string }

// latency is one measured link.
type latency struct {
	link tabshardv1.Link
	ms   float64
	at   time.Time
}

// Probe pings every peer each transport reaches: the peers it lists, and
// those this worker exchanged activations with.
func (m *Mux) Probe() {
	for _, t := range m.transports {
		peers := map[string]bool{}
		if l, ok := t.(peerLister); ok {
			for _, p := range l.Peers() {
				peers[p] = true
			}
		}
		m.mu.Lock()
		for key := range m.stats {
			if kind, peer, _ := strings.Cut(key, "/"); kind == t.Kind() {
				peers[peer] = true
			}
		}
		m.mu.Unlock()
		for p := range peers {
			if t.Reaches(p) {
				m.ping(t, p)
			}
		}
	}
}

func (m *Mux) ping(t Transport, peer string) {
	nonce := m.ids.Add(1)
	key := t.Kind() + "/" + peer
	m.mu.Lock()
	out := m.pings[key]
	if out == nil {
		out = map[uint64]time.Time{}
		m.pings[key] = out
	}
	for len(out) >= maxOutstanding {
		var oldest uint64
		var at time.Time
		for n, s := range out {
			if at.IsZero() || s.Before(at) {
				oldest, at = n, s
			}
		}
		delete(out, oldest)
	}
	out[nonce] = m.now()
	m.mu.Unlock()
	var body [8]byte
	binary.LittleEndian.PutUint64(body[:], nonce)
	f := Frames(KindPing, nonce, t.FrameLimit(), body[:])
	if err := t.Send(peer, &f[0]); err != nil {
		m.log.Debug("link ping not sent", "peer", peer, "link", t.Kind(), "err", err)
	}
}

// onProbe answers a ping or takes a pong's round trip.
func (m *Mux) onProbe(t Transport, from string, kind byte, body []byte) {
	if len(body) != 8 {
		m.count(t.Kind(), from, func(s *Stats) { s.Refused++ })
		return
	}
	nonce := binary.LittleEndian.Uint64(body)
	if kind == KindPing {
		f := Frames(KindPong, nonce, t.FrameLimit(), body)
		if err := t.Send(from, &f[0]); err != nil {
			m.log.Debug("link pong not sent", "peer", from, "link", t.Kind(), "err", err)
		}
		return
	}
	now := m.now()
	key := t.Kind() + "/" + from
	m.mu.Lock()
	defer m.mu.Unlock()
	sent, ok := m.pings[key][nonce]
	if !ok {
		return // not ours, or forgotten
	}
	delete(m.pings[key], nonce)
	ms := float64(now.Sub(sent).Microseconds()) / 2000
	l, seen := m.lat[key]
	if seen && now.Sub(l.at) < probeStale {
		ms = (1-latencyWeight)*l.ms + latencyWeight*ms
	}
	m.lat[key] = latency{link: t.Link(), ms: ms, at: now}
}

// LinkLatencies are the measured links to peers, for heartbeats: the
// running one-way latency per peer and link, measured within probeStale.
func (m *Mux) LinkLatencies() []*tabshardv1.LinkLatency {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*tabshardv1.LinkLatency
	for key, l := range m.lat {
		if now.Sub(l.at) > probeStale {
			delete(m.lat, key)
			continue
		}
		_, peer, _ := strings.Cut(key, "/")
		out = append(out, &tabshardv1.LinkLatency{PeerWorkerId: peer, Link: l.link, LatencyMs: l.ms})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetPeerWorkerId() != out[j].GetPeerWorkerId() {
			return out[i].GetPeerWorkerId() < out[j].GetPeerWorkerId()
		}
		return out[i].GetLink() < out[j].GetLink()
	})
	return out
}
