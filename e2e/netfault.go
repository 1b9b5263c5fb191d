package e2e

import (
	"net"
	"sync"
	"time"
)

// link is one worker's network to NATS: a dialer for nats.SetCustomDialer
// whose connections stop moving bytes while the link is partitioned. Like
// TCP across a cut cable, nothing is lost: what was sent or received during
// the partition is delivered when it heals, late, and the receivers must
// fence it.
type link struct {
	delay       time.Duration // of each read: the network's latency
	mu          sync.Mutex
	partitioned bool
	healed      chan struct{} // closed when the partition heals
}

func newLink(delay time.Duration) *link {
	return &link{delay: max(delay, 0), healed: make(chan struct{})}
}

// Dial implements nats.CustomDialer.
func (l *link) Dial(network, address string) (net.Conn, error) {
	if err := l.wait(nil); err != nil {
		return nil, err
	}
	c, err := net.DialTimeout(network, address, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &faultyConn{Conn: c, link: l, closed: make(chan struct{})}, nil
}

// partition cuts the link; it reports whether it was whole.
func (l *link) partition() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.partitioned {
		return false
	}
	l.partitioned = true
	l.healed = make(chan struct{})
	return true
}

// heal restores the link; it reports whether it was cut.
func (l *link) heal() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.partitioned {
		return false
	}
	l.partitioned = false
	close(l.healed)
	return true
}

// wait blocks while the link is partitioned, or until closed is closed.
func (l *link) wait(closed <-chan struct{}) error {
	for {
		l.mu.Lock()
		cut, healed := l.partitioned, l.healed
		l.mu.Unlock()
		if !cut {
			return nil
		}
		select {
		case <-healed:
		case <-closed:
			return net.ErrClosed
		}
	}
}

// faultyConn holds its reads and writes while its link is partitioned.
type faultyConn struct {
	net.Conn
	link      *link
	closeOnce sync.Once
	closed    chan struct{}
}

// Read holds the bytes it got until the link heals: bytes that reached
// the socket during a partition reach the reader after it.
func (c *faultyConn) Read(b []byte) (int, error) {
	if err := c.link.wait(c.closed); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if n > 0 && c.link.delay > 0 {
		time.Sleep(c.link.delay) // the bytes were on the wire this long
	}
	if werr := c.link.wait(c.closed); werr != nil && err == nil {
		err = werr
	}
	return n, err
}

func (c *faultyConn) Write(b []byte) (int, error) {
	if err := c.link.wait(c.closed); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *faultyConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
