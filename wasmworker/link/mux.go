package link

import (
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Transport moves frames between this worker and peers (workers by id).
type Transport interface {
	// Kind names the transport: "broadcast", "webrtc", "memory".
	Kind() string
	// Link is the link of a plan this transport is: the hops the leader
	// gives that link go over it, and a worker offers it when joining.
	Link() tabshardv1.Link
	// SetSelf tells the transport this worker's id (again after a rejoin).
	SetSelf(id string)
	// Reaches reports whether a frame sent to peer now would arrive.
	Reaches(peer string) bool
	// Connect starts connecting to peer when the transport connects on
	// demand (WebRTC); it must not block.
	Connect(peer string)
	// FrameLimit is the largest frame the transport carries in one
	// message (a data channel: MaxFrame; BroadcastChannel: a whole
	// activation).
	FrameLimit() int
	// Send sends one frame (at most FrameLimit bytes) to peer, in order,
	// copying its pieces once, into the link's own buffer.
	Send(peer string, frame *Frame) error
	// Receive sets where frames from peers go; a frame is read (copied
	// into Go memory) only inside fn.
	Receive(fn func(from string, frame Received))
	// State is the link to peer for the worker page: "open",
	// "connecting", "failed" or "" (none).
	State(peer string) string
}

// Stats are one peer's traffic over one transport.
type Stats struct {
	Peer, Kind, State string
	Sent, Recv        int64 // messages
	SentBytes         int64
	Refused           int64 // malformed or oversized frames from the peer
}

// Mux is an agent.Link over transports: each message goes over the
// transport of the link the plan names for its hop. Safe for concurrent
// use.
type Mux struct {
	transports []Transport
	log        *slog.Logger
	now        func() time.Time
	ids        atomic.Uint64

	mu      sync.Mutex
	deliver func(*tabshardv1.Activation)
	reasm   map[string]*Reassembler         // kind/from → its frames
	stats   map[string]*Stats               // kind/peer
	pings   map[string]map[uint64]time.Time // kind/peer → pings awaiting their pong
	lat     map[string]latency              // kind/peer → measured latency
}

// NewMux makes a Mux over transports, one per link, in order of
// preference (for Send).
func NewMux(log *slog.Logger, transports ...Transport) *Mux {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mux{transports: transports, log: log, now: time.Now, reasm: map[string]*Reassembler{}, stats: map[string]*Stats{},
		pings: map[string]map[uint64]time.Time{}, lat: map[string]latency{}}
	m.ids.Store(uint64(time.Now().UnixNano()))
	for _, t := range transports {
		t.Receive(func(from string, frame Received) { m.onFrame(t, from, frame) })
	}
	return m
}

// SetSelf tells every transport this worker's id.
func (m *Mux) SetSelf(id string) {
	for _, t := range m.transports {
		t.SetSelf(id)
	}
}

// Receive implements agent.Link.
func (m *Mux) Receive(deliver func(*tabshardv1.Activation)) {
	m.mu.Lock()
	m.deliver = deliver
	m.mu.Unlock()
}

// Links lists the links the Mux's transports are, in order, each once:
// what the worker offers the leader besides NATS.
func (m *Mux) Links() []tabshardv1.Link {
	var out []tabshardv1.Link
	for _, t := range m.transports {
		if l := t.Link(); !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// SendVia implements agent.Link: the transport of link via carries a to
// worker to, and no other, since the leader chose the link. When it does
// not reach to yet, it starts connecting (WebRTC connects on demand) for
// the next message, and NATS carries this one.
func (m *Mux) SendVia(to string, via tabshardv1.Link, a *tabshardv1.Activation) {
	for _, t := range m.transports {
		if t.Link() != via {
			continue
		}
		if !t.Reaches(to) {
			t.Connect(to)
			return
		}
		m.send(t, to, a)
		return
	}
	m.log.Debug("no transport for the plan's link; NATS carries it", "peer", to, "link", via)
}

// send frames a and sends it to peer over t: the payload goes from a's
// own bytes into the transport's buffer, no protobuf pass over it.
func (m *Mux) send(t Transport, to string, a *tabshardv1.Activation) {
	head, payload, err := EncodeActivation(a)
	if err != nil {
		m.log.Warn("link: activation not sent; NATS carries it", "peer", to, "err", err)
		return
	}
	frames := Frames(KindActivationParts, m.ids.Add(1), t.FrameLimit(), head, payload)
	for i := range frames {
		if err := t.Send(to, &frames[i]); err != nil {
			m.log.Debug("link send failed; NATS carries it", "peer", to, "link", t.Kind(), "err", err)
			return
		}
	}
	m.count(t.Kind(), to, func(s *Stats) { s.Sent++; s.SentBytes += int64(len(head) + len(payload)) })
}

func (m *Mux) onFrame(t Transport, from string, frame Received) {
	kind := t.Kind()
	m.mu.Lock()
	r := m.reasm[kind+"/"+from]
	if r == nil {
		r = &Reassembler{MaxFrame: t.FrameLimit()}
		m.reasm[kind+"/"+from] = r
	}
	k, msg, err := r.AddFrom(frame, m.now())
	deliver := m.deliver
	m.mu.Unlock()
	if err != nil {
		m.log.Warn("link frame refused", "peer", from, "link", kind, "err", err)
		m.count(kind, from, func(s *Stats) { s.Refused++ })
		return
	}
	if msg == nil {
		return
	}
	if k == KindPing || k == KindPong {
		m.onProbe(t, from, k, msg)
		return
	}
	a, err := DecodeActivation(k, msg)
	if err != nil {
		m.log.Warn("link message refused", "peer", from, "link", kind, "err", err)
		m.count(kind, from, func(s *Stats) { s.Refused++ })
		return
	}
	m.count(kind, from, func(s *Stats) { s.Recv++ })
	if deliver != nil {
		deliver(a)
	}
}

func (m *Mux) count(kind, peer string, fn func(*Stats)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats[kind+"/"+peer]
	if s == nil {
		s = &Stats{Peer: peer, Kind: kind}
		m.stats[kind+"/"+peer] = s
	}
	fn(s)
}

// Stats lists the traffic per peer and transport, with each link's state.
func (m *Mux) Stats() []Stats {
	m.mu.Lock()
	out := make([]Stats, 0, len(m.stats))
	for _, s := range m.stats {
		out = append(out, *s)
	}
	m.mu.Unlock()
	for i := range out {
		for _, t := range m.transports {
			if t.Kind() == out[i].Kind {
				out[i].State = t.State(out[i].Peer)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Peer != out[j].Peer {
			return out[i].Peer < out[j].Peer
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}
