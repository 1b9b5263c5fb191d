package worker_test

import (
	"bufio"
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/worker"
)

// The oracle is llama2.c's run.c on stories260K: its outputs are in
// testdata/stories260K (see the README there).
const oracleDir = "../testdata/stories260K/"

// logitTolerance bounds |ours - run.c| per logit. Both compute in float32;
// they differ only in summation order and libm rounding.
const logitTolerance = 1e-4

func openBundled(t testing.TB) *model.Model {
	t.Helper()
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// oracleRun is what a *.ids.txt file records.
type oracleRun struct {
	prompt    []int
	generated []int
	top5      map[int][][2]float64 // pos → (id, logit)
	draws     []uint32
}

func readOracle(t *testing.T, name string) oracleRun {
	t.Helper()
	f, err := os.Open(oracleDir + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o := oracleRun{top5: map[int][][2]float64{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "prompt_ids:"):
			o.prompt = ints(t, strings.TrimPrefix(line, "prompt_ids:"))
		case strings.HasPrefix(line, "generated_ids:"):
			o.generated = ints(t, strings.TrimPrefix(line, "generated_ids:"))
		case strings.HasPrefix(line, "top5 "):
			pos, pairs := parseTop5(t, line)
			o.top5[pos] = pairs
		case strings.HasPrefix(line, "rng "):
			o.draws = append(o.draws, fieldUint32(t, line, "u32="))
		}
	}
	return o
}

func ints(t *testing.T, s string) []int {
	var out []int
	for _, f := range strings.Fields(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func fieldInt(t *testing.T, line, key string) int {
	i := strings.Index(line, key)
	if i < 0 {
		t.Fatalf("no %s in %q", key, line)
	}
	v, err := strconv.Atoi(strings.Fields(line[i+len(key):])[0])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fieldUint32 reads a uint32 field (Atoi would overflow on 32-bit targets).
func fieldUint32(t *testing.T, line, key string) uint32 {
	i := strings.Index(line, key)
	if i < 0 {
		t.Fatalf("no %s in %q", key, line)
	}
	v, err := strconv.ParseUint(strings.Fields(line[i+len(key):])[0], 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v)
}

func parseTop5(t *testing.T, line string) (int, [][2]float64) {
	pos := fieldInt(t, line, "pos=")
	var pairs [][2]float64
	for _, f := range strings.Fields(line[strings.Index(line, ": ")+2:]) {
		id, logit, _ := strings.Cut(f, ":")
		a, err1 := strconv.Atoi(id)
		b, err2 := strconv.ParseFloat(logit, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad top5 entry %q", f)
		}
		pairs = append(pairs, [2]float64{float64(a), b})
	}
	return pos, pairs
}

// readLogits parses *.logits.txt: per position, all logits.
func readLogits(t *testing.T, name string) map[int][]float64 {
	f, err := os.Open(oracleDir + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int][]float64{}
	pos := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "pos=") {
			pos = fieldInt(t, line, "pos=")
			continue
		}
		_, v, _ := strings.Cut(line, " ")
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("bad logit line %q", line)
		}
		out[pos] = append(out[pos], x)
	}
	return out
}

// run generates with the given splits and returns the events.
func run(t *testing.T, m *model.Model, prompt []int, steps int, s *worker.Sampler, splits ...int) []worker.Event {
	t.Helper()
	p, err := worker.Load(m, steps, splits...)
	if err != nil {
		t.Fatal(err)
	}
	var evs []worker.Event
	err = worker.Generate(context.Background(), p, worker.GenerateConfig{Prompt: prompt, Steps: steps, Sampler: s, BOS: m.Tokenizer.BOS(), AllLogits: true},
		func(ev worker.Event) error {
			ev.Logits = append([]float32(nil), ev.Logits...)
			evs = append(evs, ev)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func sampledIDs(evs []worker.Event) []int {
	var ids []int
	for _, ev := range evs {
		if !ev.Forced {
			ids = append(ids, ev.Next)
		}
	}
	return ids
}

func TestOracleGreedyPrompt(t *testing.T) {
	m := openBundled(t)
	o := readOracle(t, "once_upon_a_time_t0_n64.ids.txt")
	prompt := m.Tokenizer.Encode("Once upon a time")
	if !equalInts(prompt, o.prompt) {
		t.Fatalf("prompt ids %v, run.c %v", prompt, o.prompt)
	}
	logits := readLogits(t, "once_upon_a_time_t0_n64.logits.txt")
	for _, splits := range [][]int{nil, {2}, {1, 3}, {1, 2, 3, 4}} {
		evs := run(t, m, prompt, 64, worker.NewSampler(0, 0.9, 1), splits...)
		if got := sampledIDs(evs); !equalInts(got, o.generated) {
			t.Fatalf("splits %v: generated %v\nrun.c %v", splits, got, o.generated)
		}
		checkLogits(t, evs, o, logits)
	}
}

func checkLogits(t *testing.T, evs []worker.Event, o oracleRun, all map[int][]float64) {
	t.Helper()
	worst := 0.0
	for _, ev := range evs {
		for _, p := range o.top5[ev.Pos] {
			worst = math.Max(worst, math.Abs(float64(ev.Logits[int(p[0])])-p[1]))
		}
		for i, want := range all[ev.Pos] {
			worst = math.Max(worst, math.Abs(float64(ev.Logits[i])-want))
		}
	}
	if worst > logitTolerance {
		t.Fatalf("largest logit difference from run.c %g > %g", worst, logitTolerance)
	}
}

func TestOracleSampled(t *testing.T) {
	m := openBundled(t)
	o := readOracle(t, "noprompt_t1_p0.9_s42_n100.ids.txt")
	evs := run(t, m, []int{m.Tokenizer.BOS()}, 100, worker.NewSampler(1, 0.9, 42))
	if got := sampledIDs(evs); !equalInts(got, o.generated) {
		t.Fatalf("generated %v\nrun.c %v", got, o.generated)
	}
	checkLogits(t, evs, o, nil)
	rng := worker.RNG{State: 42}
	for i, want := range o.draws {
		if got := rng.Uint32(); got != want {
			t.Fatalf("draw %d: %d, run.c %d", i, got, want)
		}
	}
}

func TestPrefillEqualsDecode(t *testing.T) {
	m := openBundled(t)
	prompt := m.Tokenizer.Encode("The little dog ran to the park and saw a big tree")
	batch, err := worker.Load(m, len(prompt))
	if err != nil {
		t.Fatal(err)
	}
	want, err := batch.Run(prompt, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	single, _ := worker.Load(m, len(prompt))
	v := m.Config.Vocab
	for pos, tok := range prompt {
		got, err := single.Run([]int{tok}, pos, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[pos*v+i] {
				t.Fatalf("pos %d logit %d: decode %v, prefill %v", pos, i, got[i], want[pos*v+i])
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Activations cross stage boundaries as F16 on the wire; the greedy text of
// stories260K is the oracle's for every split even so.
func TestF16HopsKeepGreedyOutput(t *testing.T) {
	m := openBundled(t)
	bos := []int{m.Tokenizer.BOS()}
	whole, _ := worker.Load(m, 200)
	want := greedyIDs(t, whole, bos, 200)
	for _, splits := range [][]int{{1}, {2}, {3}, {4}, {2, 4}, {1, 2, 3, 4}} {
		p, err := worker.Load(m, 200, splits...)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.EncodeHops(kernels.F16); err != nil {
			t.Fatal(err)
		}
		if got := greedyIDs(t, p, bos, 200); !equalInts(got, want) {
			t.Fatalf("splits %v with F16 hops: %v\nunsharded %v", splits, got, want)
		}
	}
}
