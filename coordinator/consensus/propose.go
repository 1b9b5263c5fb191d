package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Apply proposes cmd and returns once it is committed and applied to this
// node's state machine, with the state machine's rejection if any (matching
// both ErrRejected and the state machine's error). Only the leader accepts
// commands: elsewhere the error is a *NotLeaderError. After ErrLeadershipLost
// or a context error the command may or may not commit.
func (n *Node) Apply(ctx context.Context, cmd *tabshardv1.Command) error {
	if cmd == nil {
		return fmt.Errorf("%w: nil command", ErrMalformedCommand)
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedCommand, err)
	}
	var resp any
	err = n.await(ctx, func(timeout time.Duration) error {
		f := n.raft.Apply(data, timeout)
		if err := f.Error(); err != nil {
			return err
		}
		resp = f.Response()
		return nil
	})
	if err != nil {
		return err
	}
	if rejected, ok := resp.(error); ok {
		return rejected
	}
	return nil
}

// Barrier returns once the state machine has applied every command
// committed before it (leader only). A new leader calls it before it decides
// anything from its state.
func (n *Node) Barrier(ctx context.Context) error {
	return n.await(ctx, func(timeout time.Duration) error {
		return n.raft.Barrier(timeout).Error()
	})
}

// AddVoter adds a voting server, or updates its address (leader only).
func (n *Node) AddVoter(ctx context.Context, id, address string) error {
	return n.await(ctx, func(timeout time.Duration) error {
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(address), 0, timeout).Error()
	})
}

// RemoveServer removes a server from the cluster (leader only). A removed
// node stays up, idle, until it is shut down.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.await(ctx, func(timeout time.Duration) error {
		return n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
	})
}

// Snapshot takes a snapshot now and compacts the log. Nothing new since the
// last snapshot is not an error.
func (n *Node) Snapshot(ctx context.Context) error {
	err := n.await(ctx, func(time.Duration) error {
		return n.raft.Snapshot().Error()
	})
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// await runs op, which blocks on a raft future, and returns its error or
// the context's, whichever comes first. raft's futures cannot be cancelled:
// after a context error the operation may still take effect. op gets the
// context's remaining time as raft's enqueue timeout.
func (n *Node) await(ctx context.Context, op func(timeout time.Duration) error) error {
	if err := n.usable(ctx); err != nil {
		return err
	}
	var timeout time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(deadline), time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- op(timeout) }()
	select {
	case err := <-done:
		return n.translate(err)
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stop:
		return ErrShutdown
	}
}

func (n *Node) usable(ctx context.Context) error {
	select {
	case <-n.stop:
		return ErrShutdown
	default:
		return ctx.Err()
	}
}

// translate maps raft's errors to this package's.
func (n *Node) translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		id, addr := n.Leader()
		return &NotLeaderError{LeaderID: id, LeaderAddress: addr}
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	default:
		return fmt.Errorf("consensus: %w", err)
	}
}
