package planner

import "testing"

func TestSplit(t *testing.T) {
	cases := []struct {
		name  string
		b     buffer
		limit int64
		want  chunking
	}{
		{"no limit", buffer{"x", 10, 34}, 0, chunking{10, 1, 340, 0, true}},
		{"fits padded", buffer{"x", 3, 34}, 104, chunking{3, 1, 102, 2, true}},
		{"padding pushes it over", buffer{"x", 3, 34}, 103, chunking{2, 2, 68, 0 + 2, true}},
		{"even chunks", buffer{"x", 100, 8}, 400, chunking{50, 2, 400, 0, true}},
		{"balanced, last smaller", buffer{"x", 101, 8}, 400, chunking{34, 3, 272, 0, true}},
		{"row over the limit", buffer{"x", 4, 1000}, 999, chunking{}},
		// Llama-3-70B's output head at Q4_K under WebGPU's default binding.
		{"llama-3-70b head", buffer{"output.weight", 128256, 4608}, DefaultMaxBindingSize, chunking{25652, 5, 25652 * 4608, 0, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := split(c.b, c.limit)
			if got != c.want {
				t.Fatalf("split %+v under %d: %+v, want %+v", c.b, c.limit, got, c.want)
			}
			if got.ok && c.limit > 0 && padTo(got.largest) > c.limit {
				t.Fatalf("chunk of %d bytes over the limit %d", got.largest, c.limit)
			}
		})
	}
}
