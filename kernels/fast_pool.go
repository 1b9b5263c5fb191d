package kernels

import (
	"sync"
	"sync/atomic"
	"time"
)

// A pool of helper goroutines for parallelFor. Waking a parked goroutine
// costs as much as starting one, so the pool's gain is in not allocating
// stacks; its real job is to hand out work in chunks that idle helpers
// claim as they come, so a helper that the OS schedules late (the machine
// is shared) does not hold the caller up. Helpers exit after helperIdle
// without work, so none outlive a burst of calls for long.

// helperIdle is how long a helper waits for more work before exiting.
const helperIdle = 200 * time.Millisecond

// idleHelpers receives work for a helper that is waiting for some.
var idleHelpers = make(chan *parallelJob)

// parallelJob is one parallelFor call: chunks of [0,n) claimed in order.
type parallelJob struct {
	fn    func(begin, end int)
	n     int
	chunk int
	next  atomic.Int64
	wg    sync.WaitGroup // one count per chunk
}

// work runs chunks until none are left.
func (j *parallelJob) work() {
	for {
		b := int(j.next.Add(int64(j.chunk))) - j.chunk
		if b >= j.n {
			return
		}
		j.fn(b, min(b+j.chunk, j.n))
		j.wg.Done()
	}
}

// parallelFor calls fn on consecutive ranges covering [0,n), each at most
// chunk long, on the calling goroutine and up to helpers others, and
// returns when all have returned.
func parallelFor(n, chunk, helpers int, fn func(begin, end int)) {
	chunks := (n + chunk - 1) / chunk
	helpers = min(helpers, chunks-1)
	if helpers <= 0 {
		fn(0, n)
		return
	}
	j := &parallelJob{fn: fn, n: n, chunk: chunk}
	j.wg.Add(chunks)
	for range helpers {
		select {
		case idleHelpers <- j:
		default:
			go helper(j)
		}
	}
	j.work()
	j.wg.Wait()
}

// helper works on j, then on whatever jobs come until it is idle for
// helperIdle.
func helper(j *parallelJob) {
	j.work()
	t := time.NewTimer(helperIdle)
	defer t.Stop()
	for {
		select {
		case j = <-idleHelpers:
			j.work()
			t.Reset(helperIdle)
		case <-t.C:
			return
		}
	}
}
