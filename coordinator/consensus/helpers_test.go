package consensus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// models is the test state machine: the list of SetModel names applied, in
// order. A name already present is rejected, as is any other command.
type models struct {
	mu       sync.Mutex
	names    []string
	restores int
	largest  int // the most names a restored snapshot held
}

var errDuplicate = errors.New("duplicate model")

func (m *models) Apply(cmd *tabshardv1.Command) error {
	set := cmd.GetSetModel()
	if set == nil {
		return errors.New("models takes SetModel only")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(m.names, set.GetModel()) {
		return fmt.Errorf("%w: %q", errDuplicate, set.GetModel())
	}
	m.names = append(m.names, set.GetModel())
	return nil
}

func (m *models) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return json.Marshal(m.names)
}

func (m *models) Restore(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names = names
	m.restores++
	m.largest = max(m.largest, len(names))
	return nil
}

func (m *models) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.names)
}

func (m *models) restoreCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.restores
}

func (m *models) largestRestore() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.largest
}

func setModel(name string) *tabshardv1.Command {
	return &tabshardv1.Command{Change: &tabshardv1.Command_SetModel{SetModel: &tabshardv1.SetModel{Model: name}}}
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// testLogger shows raft's warnings and errors (slog Info and up) in the
// test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fastConfig elects a leader and fails over in a few hundred milliseconds,
// with a leader lease long enough for a loaded machine under -race.
func fastConfig(t *testing.T, id string) Config {
	return Config{
		NodeID:             id,
		Logger:             testLogger(t),
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 150 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkGoroutines fails the test if goroutines started during the test are
// still running once its cleanups ran. Call it first, so that it runs last.
func checkGoroutines(t *testing.T) {
	_, last := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			stacks, _ := goroutines()
			var leaked []string
			for id, stack := range stacks {
				if id > last {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// goroutines returns the stack of every goroutine by id, and the highest id.
func goroutines() (map[uint64]string, uint64) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks, last := map[uint64]string{}, uint64(0)
	for _, stack := range strings.Split(string(buf), "\n\n") {
		var id uint64
		if _, err := fmt.Sscanf(stack, "goroutine %d ", &id); err == nil {
			stacks[id] = stack
			last = max(last, id)
		}
	}
	return stacks, last
}

func apply(t *testing.T, n *Node, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := n.Apply(testContext(t), setModel(name)); err != nil {
			t.Fatalf("%s: Apply(%s): %v", n.ID(), name, err)
		}
	}
}

func wantNames(t *testing.T, who string, m *models, want []string) {
	t.Helper()
	if got := m.list(); !slices.Equal(got, want) {
		t.Fatalf("%s: state %v, want %v", who, got, want)
	}
}

// member is one node of an in-process cluster, with the state machine it
// runs and its data directory.
type member struct {
	id    string
	dir   string
	sm    *models
	node  *Node
	trans *raft.InmemTransport
}

// cluster is an in-process Raft cluster over raft.InmemTransport.
type cluster struct {
	t       *testing.T
	members []*member
	tweak   func(*Config)
}

func newCluster(t *testing.T, size int, durable bool, tweak func(*Config)) *cluster {
	c := &cluster{t: t, tweak: tweak}
	for i := 1; i <= size; i++ {
		m := &member{id: fmt.Sprintf("n%d", i)}
		if durable {
			m.dir = t.TempDir()
		}
		c.members = append(c.members, m)
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *cluster) peers() []Peer {
	var peers []Peer
	for _, m := range c.members {
		peers = append(peers, Peer{ID: m.id, Address: m.id})
	}
	return peers
}

// start starts m on a fresh transport and a fresh, empty state machine:
// whatever state it has comes from its data directory and its peers.
func (c *cluster) start(m *member) {
	c.t.Helper()
	_, m.trans = raft.NewInmemTransportWithTimeout(raft.ServerAddress(m.id), 100*time.Millisecond)
	for _, o := range c.running() {
		m.trans.Connect(o.trans.LocalAddr(), o.trans)
		o.trans.Connect(m.trans.LocalAddr(), m.trans)
	}
	cfg := fastConfig(c.t, m.id)
	cfg.DataDir, cfg.Transport, cfg.Peers = m.dir, m.trans, c.peers()
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	m.sm = &models{}
	node, err := Start(cfg, m.sm)
	if err != nil {
		c.t.Fatalf("start %s: %v", m.id, err)
	}
	m.node = node
}

func (c *cluster) startAll() {
	for _, m := range c.members {
		c.start(m)
	}
}

func (c *cluster) stop(m *member) {
	if m.node == nil {
		return
	}
	if err := m.node.Shutdown(); err != nil {
		c.t.Errorf("shutdown %s: %v", m.id, err)
	}
	m.node = nil
}

func (c *cluster) stopAll() {
	for _, m := range c.members {
		c.stop(m)
	}
}

func (c *cluster) running() []*member {
	var out []*member
	for _, m := range c.members {
		if m.node != nil {
			out = append(out, m)
		}
	}
	return out
}

// leader waits until exactly one running member is the leader and every
// running member knows it.
func (c *cluster) leader() *member {
	c.t.Helper()
	var leader *member
	eventually(c.t, "a leader known to all", func() bool {
		leader = nil
		for _, m := range c.running() {
			if m.node.IsLeader() {
				if leader != nil {
					return false
				}
				leader = m
			}
		}
		if leader == nil {
			return false
		}
		for _, m := range c.running() {
			if id, _ := m.node.Leader(); id != leader.id {
				return false
			}
		}
		return true
	})
	return leader
}

// waitApplied waits until every running member applied what the leader has.
func (c *cluster) waitApplied(leader *member) {
	c.t.Helper()
	index := leader.node.AppliedIndex()
	for _, m := range c.running() {
		if err := m.node.WaitApplied(testContext(c.t), index); err != nil {
			c.t.Fatalf("%s: WaitApplied(%d): %v", m.id, index, err)
		}
	}
}

func (c *cluster) wantNames(want []string) {
	c.t.Helper()
	for _, m := range c.running() {
		wantNames(c.t, m.id, m.sm, want)
	}
}

func (c *cluster) follower(leader *member) *member {
	for _, m := range c.running() {
		if m != leader {
			return m
		}
	}
	c.t.Fatal("no follower running")
	return nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
