package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSummarizeStreams(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	// Three streams: 4, 2 and 2 tokens decoded after their first, from
	// 100 ms (the first first token) to 1100 ms (the last token): 8
	// tokens/s; the streams' own rates 5, 2.5 and 5.
	st, err := summarizeStreams([][]time.Duration{ms(100, 300, 500, 700, 900), ms(300, 700, 1100), ms(200, 400, 600)})
	if err != nil {
		t.Fatal(err)
	}
	want := streamStats{aggregate: 8, stream: 5, ttft: 200, lastTTFT: 300, wall: 1100}
	for name, g := range map[string][2]float64{
		"aggregate": {st.aggregate, want.aggregate}, "stream": {st.stream, want.stream}, "ttft": {st.ttft, want.ttft},
		"last ttft": {st.lastTTFT, want.lastTTFT}, "wall": {st.wall, want.wall},
	} {
		if math.Abs(g[0]-g[1]) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, g[0], g[1])
		}
	}
	for _, bad := range [][][]time.Duration{nil, {ms(100)}, {ms(100, 200), ms(300, 300)}} {
		if _, err := summarizeStreams(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestMeasureStreamsFlag(t *testing.T) {
	for _, v := range []string{"-1", "1025"} {
		_, errOut, code := tabshard(t, "measure", "--streams", v, "--coordinator", "http://127.0.0.1:1")
		if code != 2 || !strings.Contains(errOut, "--streams") {
			t.Errorf("--streams %s: exit %d %q, want a usage error", v, code, errOut)
		}
	}
}
