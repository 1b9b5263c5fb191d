package consensus

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// tcpMaxPool is how many idle connections a node keeps to each peer.
	tcpMaxPool = 3
	// tcpTimeout bounds one RPC's I/O (raft scales it for snapshots).
	tcpTimeout = 10 * time.Second
	// handlerGrace bounds how long Close waits for connection handlers.
	handlerGrace = 2 * time.Second
)

// transport is cfg.Transport or a new TCP transport.
func (c Config) transport(hl *hcLogger) (raft.Transport, error) {
	if c.Transport != nil {
		return c.Transport, nil
	}
	trans, err := newTCPTransport(c.Bind, c.Advertise, hl)
	if err != nil {
		return nil, err
	}
	return trans, nil
}

// newTCPTransport binds a raft NetworkTransport on bind, advertising
// advertise (or the bound address).
func newTCPTransport(bind, advertise string, log *hcLogger) (*raft.NetworkTransport, error) {
	stream, err := listenTCP(bind, advertise)
	if err != nil {
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: tcpMaxPool,
		Timeout: tcpTimeout,
		Logger:  log.Named("transport"),
	})
	return trans, nil
}

// tcpStream is a raft.StreamLayer over TCP that remembers its connections:
// raft's NetworkTransport closes its stream on shutdown but not the
// connections it accepted, whose goroutines would wait for the peer; closing
// the stream closes them all.
type tcpStream struct {
	ln        net.Listener
	advertise net.Addr

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

var _ raft.StreamLayer = (*tcpStream)(nil)

func listenTCP(bind, advertise string) (*tcpStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft listen on %s: %w", bind, err)
	}
	s := &tcpStream{ln: ln, advertise: ln.Addr(), conns: map[*trackedConn]struct{}{}}
	if advertise != "" {
		if s.advertise, err = net.ResolveTCPAddr("tcp", advertise); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("raft advertise address %s: %w", advertise, err)
		}
	}
	if ip := s.advertise.(*net.TCPAddr).IP; ip == nil || ip.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("raft address %s is not one peers can dial: set Advertise", s.advertise)
	}
	return s, nil
}

func (s *tcpStream) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return s.track(c, true)
}

func (s *tcpStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	return s.track(c, false)
}

func (s *tcpStream) Addr() net.Addr { return s.advertise }

// Close stops listening and closes every connection, accepted or dialled,
// then waits (a little) for the handlers of the accepted ones to let go.
func (s *tcpStream) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := slices.Collect(maps.Keys(s.conns))
	s.mu.Unlock()
	err := s.ln.Close()
	for _, c := range conns {
		_ = c.Conn.Close()
	}
	s.awaitHandlers(conns)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// awaitHandlers waits until raft's handler of each accepted connection has
// returned (it closes its connection on the way out).
func (s *tcpStream) awaitHandlers(conns []*trackedConn) {
	timeout := time.NewTimer(handlerGrace)
	defer timeout.Stop()
	for _, c := range conns {
		if !c.accepted {
			continue
		}
		select {
		case <-c.released:
		case <-timeout.C:
			return
		}
	}
}

func (s *tcpStream) track(c net.Conn, accepted bool) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, s: s, accepted: accepted, released: make(chan struct{})}
	s.conns[tc] = struct{}{}
	return tc, nil
}

func (s *tcpStream) forget(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// trackedConn leaves its stream's set when its owner closes it.
type trackedConn struct {
	net.Conn
	s        *tcpStream
	accepted bool
	once     sync.Once
	released chan struct{}
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.forget(c)
		close(c.released)
	})
	return c.Conn.Close()
}
