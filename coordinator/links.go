package coordinator

import (
	"sync"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// maxReportedLinks bounds the links kept per worker: a worker reports its
// links to the few peers it talks to, and no worker can grow the table.
const maxReportedLinks = 64

// linkKey is one measured link from a reporting worker.
type linkKey struct {
	peer string
	link tabshardv1.Link
}

// linkReports keeps the link latencies each worker last reported in its
// heartbeats (Heartbeat.link_latencies): the planner's hop costs
// (planner.WithLinks bounds every value). Only the sender's own
// heartbeats, whose subject its credentials fix, reach record.
type linkReports struct {
	mu sync.Mutex
	by map[string]map[linkKey]float64 // reporter → its links → ms
}

// record replaces what hb's worker reported before with hb's links (the
// first maxReportedLinks of them).
func (r *linkReports) record(hb *tabshardv1.Heartbeat) {
	ls := hb.GetLinkLatencies()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(ls) == 0 {
		delete(r.by, hb.GetWorkerId())
		return
	}
	if r.by == nil {
		r.by = map[string]map[linkKey]float64{}
	}
	mine := make(map[linkKey]float64, min(len(ls), maxReportedLinks))
	for _, l := range ls[:min(len(ls), maxReportedLinks)] {
		mine[linkKey{l.GetPeerWorkerId(), l.GetLink()}] = l.GetLatencyMs()
	}
	r.by[hb.GetWorkerId()] = mine
}

// latency is what from last reported for its link to to (0: nothing).
func (r *linkReports) latency(from, to string, link tabshardv1.Link) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[from][linkKey{to, link}]
}

// LinkLatency is what worker from last reported, in its heartbeats, of
// its link to worker to (0: nothing): what the planner costs that hop
// with, bounded (planner.WithLinks).
func (c *Coordinator) LinkLatency(from, to string, link tabshardv1.Link) float64 {
	return c.links.latency(from, to, link)
}
