package coordinator

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tabshard/tabshard/coordinator/api"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// workerLoads keeps what each worker's last heartbeat said of its loading,
// for the dashboard (GET /api/loads). Every coordinator hears the
// heartbeats, so each can answer; nothing of it is replicated.
type workerLoads struct {
	mu   sync.Mutex
	seen map[string]heardLoad
}

type heardLoad struct {
	stage    int32
	progress float32
	at       time.Time
}

// heard records a heartbeat that came at at.
func (l *workerLoads) heard(hb *tabshardv1.Heartbeat, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]heardLoad{}
	}
	l.seen[hb.GetWorkerId()] = heardLoad{stage: hb.GetLoadedStage(), progress: hb.GetLoadProgress(), at: at}
}

// list is the workers heard within maxAge of now, by id; it forgets the
// others.
func (l *workerLoads) list(now time.Time, maxAge time.Duration) []api.WorkerLoad {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []api.WorkerLoad{}
	for id, h := range l.seen {
		age := now.Sub(h.at)
		if age > maxAge {
			delete(l.seen, id)
			continue
		}
		out = append(out, api.WorkerLoad{WorkerID: id, LoadedStage: h.stage, Progress: h.progress, AgeMS: age.Milliseconds()})
	}
	slices.SortFunc(out, func(a, b api.WorkerLoad) int { return strings.Compare(a.WorkerID, b.WorkerID) })
	return out
}

// Loads lists the workers' loading as their heartbeats said it within a
// lease (api.LoadReporter).
func (b backend) Loads() []api.WorkerLoad {
	return b.c.loads.list(b.c.cfg.Clock.Now(), b.c.cfg.Lease)
}
