package kernels

import (
	"errors"
	"math"
	"testing"
)

// RowBytes refuses rows whose size would overflow (a fuzzed GGUF header
// once gave an F32 row of 2^62 elements a negative size).
func TestRowBytesOverflow(t *testing.T) {
	for _, c := range []struct {
		t    DType
		n    int64
		want int64
	}{
		{F32, 1 << 20, 4 << 20},
		{Q4_0, 256, 144},
		{F32, math.MaxInt64/4 + 1, -1},
		{F16, math.MaxInt64 - 1, -1},
		{Q6_K, math.MaxInt64 / 256 * 256, math.MaxInt64 / 256 * 210}, // fewer bytes than elements: fits
		{Q8_0, math.MaxInt64 / 32 * 32, -1},
	} {
		got, err := c.t.RowBytes(c.n)
		if c.want < 0 {
			if !errors.Is(err, ErrRowLength) {
				t.Errorf("%s × %d: %d, %v; want an error", c.t, c.n, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s × %d: %d, %v; want %d", c.t, c.n, got, err, c.want)
		}
	}
}
