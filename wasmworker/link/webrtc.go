package link

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/webrtc/v4"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// retryAfter is how long a failed WebRTC link waits before another try.
const retryAfter = 3 * time.Second

// signal is a WebRTC signalling message, sent over NATS to
// tabshard.<cluster>.rtc.<to>.
type signal struct {
	From      string                   `json:"from"`
	Kind      string                   `json:"kind"` // offer, answer, candidate
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
}

// WebRTC is the data channel transport between browsers and machines
// (github.com/pion/webrtc: the browser's RTCPeerConnection in a tab, pion's
// own stack natively). The sender of a hop connects on demand, signalling
// through NATS; frames go over one ordered, reliable data channel.
type WebRTC struct {
	subject string // the signalling prefix: tabshard.<cluster>.rtc. (then <to>.<from>)
	nc      func() *nats.Conn
	newPC   func(webrtc.Configuration) (*webrtc.PeerConnection, error)
	config  webrtc.Configuration
	log     *slog.Logger

	mu    sync.Mutex
	self  string
	sub   *nats.Subscription
	peers map[string]*rtcPeer
	recv  func(from string, frame Received)
}

type rtcPeer struct {
	pc        *webrtc.PeerConnection
	dc        *webrtc.DataChannel
	offerer   bool
	state     string // connecting, open, failed
	since     time.Time
	remoteSet bool
	early     []webrtc.ICECandidateInit // candidates before the remote description
}

// WebRTCOptions configure a WebRTC transport.
type WebRTCOptions struct {
	// Config is the RTCConfiguration: ICE servers (none: host candidates
	// only, enough on one network).
	Config webrtc.Configuration
	// NewPeerConnection makes peer connections (natively, with a
	// SettingEngine); nil means webrtc.NewPeerConnection.
	NewPeerConnection func(webrtc.Configuration) (*webrtc.PeerConnection, error)
	Logger            *slog.Logger
}

// NewWebRTC makes the transport of cluster; nc gives the NATS connection
// signals travel over.
func NewWebRTC(cluster string, nc func() *nats.Conn, o WebRTCOptions) *WebRTC {
	if o.NewPeerConnection == nil {
		o.NewPeerConnection = webrtc.NewPeerConnection
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &WebRTC{subject: "tabshard." + cluster + ".rtc.", nc: nc, newPC: o.NewPeerConnection, config: o.Config, log: o.Logger, peers: map[string]*rtcPeer{}}
}

func (w *WebRTC) Kind() string          { return "webrtc" }
func (w *WebRTC) Link() tabshardv1.Link { return tabshardv1.Link_LINK_WEBRTC }

// SetSelf listens for signals to worker id.
func (w *WebRTC) SetSelf(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sub != nil {
		w.sub.Unsubscribe()
		w.sub = nil
	}
	w.self = id
	nc := w.nc()
	if nc == nil { // the connection is being set up: try again shortly
		go func() {
			time.Sleep(100 * time.Millisecond)
			w.mu.Lock()
			again := w.self == id && w.sub == nil
			w.mu.Unlock()
			if again {
				w.SetSelf(id)
			}
		}()
		return
	}
	// Signals to id come on rtc.<id>.<from>: the sender's credentials
	// allow only its own <from>, so the subject, not the payload, says
	// who sent a signal.
	sub, err := nc.Subscribe(w.subject+id+".*", func(m *nats.Msg) {
		var s signal
		if err := json.Unmarshal(m.Data, &s); err != nil {
			w.log.Warn("webrtc: malformed signal", "err", err)
			return
		}
		s.From = m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		w.onSignal(s) // in order, on the subscription's one goroutine
	})
	if err != nil {
		w.log.Warn("webrtc: cannot listen for signals", "err", err)
		return
	}
	w.sub = sub
}

func (w *WebRTC) send(to string, s signal) {
	w.mu.Lock()
	s.From = w.self
	w.mu.Unlock()
	b, _ := json.Marshal(s)
	if nc := w.nc(); nc != nil {
		if err := nc.Publish(w.subject+to+"."+s.From, b); err != nil {
			w.log.Warn("webrtc: signal", "to", to, "err", err)
		}
	}
}

func (w *WebRTC) Reaches(peer string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.peers[peer]
	return p != nil && p.state == "open"
}

// Peers are the peers with an open data channel.
func (w *WebRTC) Peers() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for id, p := range w.peers {
		if p.state == "open" {
			out = append(out, id)
		}
	}
	return out
}

func (w *WebRTC) State(peer string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.peers[peer]; p != nil {
		return p.state
	}
	return ""
}

func (w *WebRTC) Receive(fn func(from string, frame Received)) {
	w.mu.Lock()
	w.recv = fn
	w.mu.Unlock()
}

// FrameLimit is a data channel message's: MaxFrame.
func (w *WebRTC) FrameLimit() int { return MaxFrame }

func (w *WebRTC) Send(peer string, frame *Frame) error {
	w.mu.Lock()
	p := w.peers[peer]
	w.mu.Unlock()
	if p == nil || p.dc == nil {
		return fmt.Errorf("webrtc: no data channel to %s", peer)
	}
	return sendFrame(p.dc, frame)
}

// Connect offers a data channel to peer unless one is open or being set
// up, or the last try failed less than retryAfter ago.
func (w *WebRTC) Connect(peer string) {
	w.mu.Lock()
	if p := w.peers[peer]; p != nil && (p.state != "failed" || time.Since(p.since) < retryAfter) || w.self == "" || peer == w.self {
		w.mu.Unlock()
		return
	}
	p := &rtcPeer{offerer: true, state: "connecting", since: time.Now()}
	w.peers[peer] = p
	w.mu.Unlock()
	go func() {
		if err := w.offer(peer, p); err != nil {
			w.log.Warn("webrtc: offer", "peer", peer, "err", err)
			w.setState(peer, p, "failed")
		}
	}()
}

func (w *WebRTC) offer(peer string, p *rtcPeer) error {
	pc, err := w.peerConnection(peer, p)
	if err != nil {
		return err
	}
	ordered := true
	dc, err := pc.CreateDataChannel("tabshard", &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return err
	}
	w.wire(peer, p, dc)
	sdp, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(sdp); err != nil {
		return err
	}
	w.send(peer, signal{Kind: "offer", SDP: sdp.SDP})
	return nil
}

// peerConnection makes p's connection, trickling candidates to peer.
func (w *WebRTC) peerConnection(peer string, p *rtcPeer) (*webrtc.PeerConnection, error) {
	pc, err := w.newPC(w.config)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	p.pc = pc
	w.mu.Unlock()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			init := c.ToJSON()
			w.send(peer, signal{Kind: "candidate", Candidate: &init})
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateDisconnected {
			w.setState(peer, p, "failed")
		}
	})
	return pc, nil
}

// wire handles a data channel's opening, frames and closing.
func (w *WebRTC) wire(peer string, p *rtcPeer, dc *webrtc.DataChannel) {
	w.mu.Lock()
	p.dc = dc
	w.mu.Unlock()
	dc.OnOpen(func() { w.setState(peer, p, "open") })
	dc.OnClose(func() { w.setState(peer, p, "failed") })
	onMessage(dc, func(frame Received) {
		w.mu.Lock()
		recv := w.recv
		w.mu.Unlock()
		if recv != nil {
			recv(peer, frame)
		}
	})
}

func (w *WebRTC) setState(peer string, p *rtcPeer, state string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.state == state {
		return
	}
	p.state, p.since = state, time.Now()
	w.log.Info("webrtc link", "peer", peer, "state", state)
	if state == "failed" && p.pc != nil {
		go p.pc.Close()
	}
}

func (w *WebRTC) onSignal(s signal) {
	w.mu.Lock()
	p := w.peers[s.From]
	self := w.self
	var pc *webrtc.PeerConnection
	offerer, failed := false, false
	if p != nil {
		pc, offerer, failed = p.pc, p.offerer, p.state == "failed"
	}
	w.mu.Unlock()
	switch s.Kind {
	case "offer":
		if p != nil && offerer && !failed && self < s.From {
			return // both offered: the lower id's offer wins
		}
		if pc != nil {
			pc.Close()
		}
		p = &rtcPeer{state: "connecting", since: time.Now()}
		w.mu.Lock()
		w.peers[s.From] = p
		w.mu.Unlock()
		if err := w.answer(s.From, p, s.SDP); err != nil {
			w.log.Warn("webrtc: answer", "peer", s.From, "err", err)
			w.setState(s.From, p, "failed")
		}
	case "answer":
		if pc == nil || !offerer {
			return
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.SDP}); err != nil {
			w.log.Warn("webrtc: remote answer", "peer", s.From, "err", err)
			w.setState(s.From, p, "failed")
			return
		}
		w.remoteSet(p)
	case "candidate":
		if pc == nil || s.Candidate == nil {
			return
		}
		w.mu.Lock()
		if !p.remoteSet {
			p.early = append(p.early, *s.Candidate)
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if err := pc.AddICECandidate(*s.Candidate); err != nil {
			w.log.Debug("webrtc: candidate", "peer", s.From, "err", err)
		}
	}
}

func (w *WebRTC) answer(peer string, p *rtcPeer, sdp string) error {
	pc, err := w.peerConnection(peer, p)
	if err != nil {
		return err
	}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { w.wire(peer, p, dc) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	w.remoteSet(p)
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	w.send(peer, signal{Kind: "answer", SDP: ans.SDP})
	return nil
}

// remoteSet adds the candidates that came before the remote description.
func (w *WebRTC) remoteSet(p *rtcPeer) {
	w.mu.Lock()
	p.remoteSet = true
	early := p.early
	p.early = nil
	w.mu.Unlock()
	for _, c := range early {
		_ = p.pc.AddICECandidate(c)
	}
}

// Close closes every peer connection.
func (w *WebRTC) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.peers {
		if p.pc != nil {
			p.pc.Close()
		}
	}
	if w.sub != nil {
		w.sub.Unsubscribe()
	}
}
