package bus

import (
	"errors"
	"fmt"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// replayCursor decides, for activations read in log order, which to deliver
// so that positions [from, to) are covered once, in order. It holds no I/O:
// Replay feeds it.
type replayCursor struct {
	from, next uint64
	to         uint64
	fn         func(*tabshardv1.Activation) error
	// ahead holds inputs that start past next, by first position, in log
	// order, until the inputs before them arrive.
	ahead map[uint64][]*tabshardv1.Activation
}

func newReplayCursor(from, to uint32, fn func(*tabshardv1.Activation) error) *replayCursor {
	return &replayCursor{
		from: uint64(from), next: uint64(from), to: uint64(to), fn: fn,
		ahead: make(map[uint64][]*tabshardv1.Activation),
	}
}

// done reports whether [from, to) is covered.
func (c *replayCursor) done() bool { return c.to != ReplayToEnd && c.next >= c.to }

// offer takes the next activation in log order, delivering it (and any
// waiting inputs it makes contiguous) when it starts at next.
func (c *replayCursor) offer(a *tabshardv1.Activation) (bool, error) {
	first := uint64(a.GetFirstPosition())
	switch {
	case end(a) <= c.next || first >= c.to:
		return c.done(), nil // already covered, or not wanted
	case first > c.next:
		c.ahead[first] = append(c.ahead[first], a)
		return false, nil
	case first < c.next:
		return false, fmt.Errorf("%w: logged input [%d,%d) straddles position %d",
			ErrReplayIncomplete, first, end(a), c.next)
	}
	if err := c.deliver(a); err != nil {
		return false, err
	}
	return c.done(), c.drain()
}

// deliver hands a to fn and advances past it, unless fn refused it.
func (c *replayCursor) deliver(a *tabshardv1.Activation) error {
	if c.done() {
		return nil
	}
	err := c.fn(a)
	if errors.Is(err, ErrSkipActivation) {
		return nil
	}
	if err != nil {
		return err
	}
	c.next = end(a)
	return nil
}

// drain delivers waiting inputs while one starts at next.
func (c *replayCursor) drain() error {
	for !c.done() {
		waiting, ok := c.ahead[c.next]
		if !ok {
			return nil
		}
		delete(c.ahead, c.next)
		at := c.next
		for _, a := range waiting {
			if err := c.deliver(a); err != nil {
				return err
			}
			if c.next != at {
				break
			}
		}
		if c.next == at {
			return nil // every copy refused
		}
	}
	return nil
}

// finish reports a range the log did not cover.
func (c *replayCursor) finish() error {
	if c.done() {
		return nil
	}
	gap := c.firstAhead()
	switch {
	case gap >= 0:
		return fmt.Errorf("%w: delivered [%d,%d), then positions [%d,%d) are missing",
			ErrReplayIncomplete, c.from, c.next, c.next, gap)
	case c.to == ReplayToEnd:
		return nil
	default:
		return fmt.Errorf("%w: delivered [%d,%d) of [%d,%d); the log holds nothing further",
			ErrReplayIncomplete, c.from, c.next, c.from, c.to)
	}
}

// firstAhead is the smallest waiting first position past next, or -1.
func (c *replayCursor) firstAhead() int64 {
	first := int64(-1)
	for p := range c.ahead {
		if p > c.next && (first < 0 || int64(p) < first) {
			first = int64(p)
		}
	}
	return first
}
