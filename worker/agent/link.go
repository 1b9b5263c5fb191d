package agent

import (
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Link carries activations straight to the next stage's worker beside
// NATS: a BroadcastChannel between tabs of one browser, a WebRTC data
// channel between browsers. The leader picks the link of each hop (the
// plan's Stage.link); NATS still carries every activation, which the
// JetStream log keeps for replay, and the receiver runs the link's copy,
// which comes first, and drops its NATS twin.
type Link interface {
	// SendVia offers a, the input of stage a.Stage, to worker to over the
	// link via the plan names for that hop (never NATS: the agent publishes
	// there itself). It must not block; a link that cannot reach to yet
	// drops it (NATS carries it) and may start connecting for the next.
	SendVia(to string, via tabshardv1.Link, a *tabshardv1.Activation)
	// Receive sets where activations for this worker go; the agent calls
	// it when it joins, before any Send.
	Receive(deliver func(*tabshardv1.Activation))
}

// directHop is where the input of stage goes besides NATS, as plan says:
// the stage's primary and the link the leader picked for the hop into it.
// ok is false when the plan names no direct link (NATS, or a plan from
// before links), when the stage has no primary, or when it is self.
func directHop(plan *tabshardv1.Plan, stage uint32, self string) (to string, via tabshardv1.Link, ok bool) {
	stages := plan.GetStages()
	if int(stage) >= len(stages) {
		return "", 0, false
	}
	s := stages[stage]
	to, via = s.GetDeviceId(), s.GetLink()
	if to == "" || to == self || via == tabshardv1.Link_LINK_NATS || via == tabshardv1.Link_LINK_UNSPECIFIED {
		return "", 0, false
	}
	return to, via, true
}

// twinWindow is how long a link delivery waits for its NATS twin.
const twinWindow = 5 * time.Second

// twinKey names one send of an activation.
type twinKey struct {
	session         string
	epoch           uint64
	stage, position uint32
	count           uint32
	producer        string
}

func keyOf(a *tabshardv1.Activation) twinKey {
	return twinKey{a.GetSessionId(), a.GetEpoch(), a.GetStage(), a.GetFirstPosition(), a.GetTokenCount(), a.GetProducerWorkerId()}
}

// twins pairs each activation a link delivered with the NATS copy of the
// same send, so that the copy is dropped rather than run twice (a second
// run would re-send the output downstream). A NATS copy with no link twin
// waiting is a send the link missed, or a re-issued step: it runs.
type twins struct {
	waiting map[twinKey][]time.Time
}

// linked records a delivery by the link at now.
func (t *twins) linked(a *tabshardv1.Activation, now time.Time) {
	if t.waiting == nil {
		t.waiting = map[twinKey][]time.Time{}
	}
	k := keyOf(a)
	t.waiting[k] = append(t.waiting[k], now)
	if len(t.waiting) > 1024 {
		t.expire(now)
	}
}

// isTwin reports whether a, from NATS, is the twin of a link delivery; it
// consumes that delivery.
func (t *twins) isTwin(a *tabshardv1.Activation, now time.Time) bool {
	k := keyOf(a)
	ts := t.waiting[k]
	for len(ts) > 0 && now.Sub(ts[0]) > twinWindow {
		ts = ts[1:]
	}
	if len(ts) == 0 {
		delete(t.waiting, k)
		return false
	}
	if ts = ts[1:]; len(ts) == 0 {
		delete(t.waiting, k)
	} else {
		t.waiting[k] = ts
	}
	return true
}

func (t *twins) expire(now time.Time) {
	for k, ts := range t.waiting {
		if now.Sub(ts[len(ts)-1]) > twinWindow {
			delete(t.waiting, k)
		}
	}
}
