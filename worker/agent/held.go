package agent

import (
	"log/slog"
	"sync/atomic"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Bounds of the inputs a worker holds for an epoch it has not heard of yet,
// or for weights still loading: a few steps' worth, far less than a flood
// of inputs stamped with far-future epochs could fill.
const (
	DefaultMaxHeld      = 256
	DefaultMaxHeldBytes = 64 << 20
)

// Metrics count what a worker refused, and its credentials' renewals; safe
// for concurrent use.
type Metrics struct {
	// RejectedActivations are inputs of a stale epoch, from another
	// producer than the plan names, or forged (a producer field that
	// differs from the subject's).
	RejectedActivations atomic.Uint64
	// DroppedActivations are inputs dropped because the buffer of inputs
	// waiting for their epoch or weights was full.
	DroppedActivations atomic.Uint64
	// RejectedModelURLs are announced model locations outside the origins
	// the worker trusts.
	RejectedModelURLs atomic.Uint64
	// Renewals are bus credentials renewed.
	Renewals atomic.Uint64
	// LogAcks are the worker's outputs the activation log acknowledged,
	// LogAckNanos the sum of their waits from send to acknowledgement
	// (off the token's path: outputs go out without waiting).
	LogAcks, LogAckNanos atomic.Uint64
	// LogRetries are outputs sent to the log again after a failure or no
	// acknowledgement; LogLost those given up (a replay that needs one
	// fails, and the leader re-issues the step).
	LogRetries, LogLost atomic.Uint64
	// Steps are the steps the worker's stage ran and sent on,
	// ComputeNanos their compute and HostNanos their time outside it
	// (queueing, decoding, encoding), summed.
	Steps, ComputeNanos, HostNanos atomic.Uint64
	// RoundWaits are the gathers that waited for more of a round's steps
	// (Config.RoundWait), RoundWaitNanos their waits, summed.
	RoundWaits, RoundWaitNanos atomic.Uint64
}

// roundWait counts a gather's wait.
func (m *Metrics) roundWait(d time.Duration) {
	if m == nil {
		return
	}
	m.RoundWaits.Add(1)
	m.RoundWaitNanos.Add(uint64(d.Nanoseconds()))
}

// step counts a step's times (more of them, for a step's later pieces:
// first is false).
func (m *Metrics) step(compute, host time.Duration, first bool) {
	if m == nil {
		return
	}
	if first {
		m.Steps.Add(1)
	}
	m.ComputeNanos.Add(uint64(max(compute, 0).Nanoseconds()))
	m.HostNanos.Add(uint64(max(host, 0).Nanoseconds()))
}

// Acked, Retried and Lost count the worker's asynchronous log publishes
// (a bus.LogObserver).
func (m *Metrics) Acked(waited time.Duration) {
	m.LogAcks.Add(1)
	m.LogAckNanos.Add(uint64(waited.Nanoseconds()))
}

func (m *Metrics) Retried(error) { m.LogRetries.Add(1) }
func (m *Metrics) Lost(error)    { m.LogLost.Add(1) }

// held are inputs waiting for their epoch's announcement or their stage's
// weights, bounded in count and bytes. When full, the input of the
// farthest epoch goes: a flood of far-future epochs cannot push out the
// inputs of the next epoch, which are about to run.
type held struct {
	max, maxBytes int
	metrics       *Metrics
	log           *slog.Logger
	as            []*tabshardv1.Activation
	bytes         int
	warned        bool // one log line per overflow, until the buffer drains
}

// add holds a, dropping the farthest-epoch input (a itself, if it is the
// farthest) while over the bounds.
func (h *held) add(a *tabshardv1.Activation) {
	h.as = append(h.as, a)
	h.bytes += size(a)
	for len(h.as) > h.max || h.bytes > h.maxBytes {
		i := h.farthest()
		h.bytes -= size(h.as[i])
		dropped := h.as[i]
		h.as = append(h.as[:i], h.as[i+1:]...)
		h.metrics.DroppedActivations.Add(1)
		if !h.warned {
			h.warned = true
			h.log.Warn("too many inputs waiting for a newer epoch or for weights: dropping the farthest epoch's",
				"held", len(h.as), "bytes", h.bytes, "dropped_epoch", dropped.GetEpoch(), "from", dropped.GetProducerWorkerId())
		}
	}
}

func (h *held) farthest() int {
	i := len(h.as) - 1
	for j, a := range h.as {
		if a.GetEpoch() > h.as[i].GetEpoch() {
			i = j
		}
	}
	return i
}

// take empties the buffer.
func (h *held) take() []*tabshardv1.Activation {
	as := h.as
	h.as, h.bytes, h.warned = nil, 0, false
	return as
}

func size(a *tabshardv1.Activation) int { return len(a.GetPayload()) + 4*len(a.GetTokens()) + 64 }
