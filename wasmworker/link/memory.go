package link

import (
	"errors"
	"sync"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Hub connects Memory transports in one process, as a BroadcastChannel
// connects the tabs of one browser. For tests.
type Hub struct {
	mu    sync.Mutex
	peers map[string]*Memory
}

// Memory is a Transport through a Hub.
type Memory struct {
	hub  *Hub
	link tabshardv1.Link
	mu   sync.Mutex
	self string
	recv func(from string, frame Received)
	// MaxFrame is FrameLimit (0: MaxFrame, a data channel's).
	MaxFrame int
}

// NewMemory joins a Hub as a BroadcastChannel link: the plan's
// LINK_BROADCAST_CHANNEL hops go over it.
func (h *Hub) NewMemory() *Memory { return h.NewMemoryAs(tabshardv1.Link_LINK_BROADCAST_CHANNEL) }

// NewMemoryAs joins a Hub as the plan's link l.
func (h *Hub) NewMemoryAs(l tabshardv1.Link) *Memory { return &Memory{hub: h, link: l} }

func (m *Memory) Kind() string          { return "memory" }
func (m *Memory) Link() tabshardv1.Link { return m.link }

func (m *Memory) SetSelf(id string) {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	if m.hub.peers == nil {
		m.hub.peers = map[string]*Memory{}
	}
	m.mu.Lock()
	delete(m.hub.peers, m.self)
	m.self = id
	m.mu.Unlock()
	m.hub.peers[id] = m
}

func (m *Memory) peer(id string) *Memory {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	return m.hub.peers[id]
}

// Peers are the other transports on the hub.
func (m *Memory) Peers() []string {
	m.mu.Lock()
	self := m.self
	m.mu.Unlock()
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	var out []string
	for id := range m.hub.peers {
		if id != self {
			out = append(out, id)
		}
	}
	return out
}

func (m *Memory) Reaches(peer string) bool { return m.peer(peer) != nil }
func (m *Memory) Connect(string)           {}

func (m *Memory) State(peer string) string {
	if m.Reaches(peer) {
		return "open"
	}
	return ""
}

func (m *Memory) FrameLimit() int {
	if m.MaxFrame > 0 {
		return m.MaxFrame
	}
	return MaxFrame
}

func (m *Memory) Send(peer string, frame *Frame) error {
	p := m.peer(peer)
	if p == nil {
		return errors.New("memory link: no such peer")
	}
	m.mu.Lock()
	self := m.self
	m.mu.Unlock()
	p.mu.Lock()
	recv := p.recv
	p.mu.Unlock()
	if recv != nil {
		recv(self, Owned(frame.AppendTo(nil)))
	}
	return nil
}

func (m *Memory) Receive(fn func(from string, frame Received)) {
	m.mu.Lock()
	m.recv = fn
	m.mu.Unlock()
}
