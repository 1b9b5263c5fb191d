package worker_test

import (
	"runtime"
	"testing"

	"github.com/tabshard/tabshard/worker"
)

// A long prefill spreads its matmuls and attention over the cores; every
// logit must still be the one a position-by-position decode on one core
// computes.
func TestParallelPrefillEqualsDecode(t *testing.T) {
	m := openBundled(t)
	prompt := make([]int, 300)
	for i := range prompt {
		prompt[i] = 1 + (i*37)%(m.Config.Vocab-1)
	}
	v := m.Config.Vocab
	want := make([]float32, 0, len(prompt)*v)
	func() {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		single, err := worker.Load(m, len(prompt))
		if err != nil {
			t.Fatal(err)
		}
		for pos, tok := range prompt {
			got, err := single.Run([]int{tok}, pos, false)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, got...)
		}
	}()
	for _, procs := range []int{2, 4} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			batch, err := worker.Load(m, len(prompt))
			if err != nil {
				t.Fatal(err)
			}
			got, err := batch.Run(prompt, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("GOMAXPROCS=%d: pos %d logit %d: prefill %v, decode %v", procs, i/v, i%v, got[i], want[i])
				}
			}
		}()
	}
}
