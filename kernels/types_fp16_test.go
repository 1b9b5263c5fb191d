package kernels_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

func TestFP16ToFP32Table(t *testing.T) {
	cases := []struct {
		h    uint16
		want uint32 // float32 bits
	}{
		{0x0000, 0x00000000},                          // +0
		{0x8000, 0x80000000},                          // -0
		{0x0001, math.Float32bits(0x1p-24)},           // smallest subnormal
		{0x8001, math.Float32bits(-0x1p-24)},          // its negative
		{0x03ff, math.Float32bits(1023 * 0x1p-24)},    // largest subnormal
		{0x0400, math.Float32bits(0x1p-14)},           // smallest normal
		{0x3c00, math.Float32bits(1)},                 // one
		{0xc000, math.Float32bits(-2)},                // minus two
		{0x3555, math.Float32bits(0x1.554p-2)},        // ~1/3
		{0x7bff, math.Float32bits(65504)},             // largest finite
		{0x7c00, 0x7f800000},                          // +Inf
		{0xfc00, 0xff800000},                          // -Inf
		{0x7e00, 0x7fc00000},                          // quiet NaN
		{0x7c01, 0x7f802000},                          // signalling NaN payload kept
		{0xfe01, 0xffc02000},                          // negative NaN payload kept
		{0x0200, math.Float32bits(0x1p-15)},           // subnormal power of two
		{0x83ff, math.Float32bits(-1023 * 0x1p-24)},   // negative largest subnormal
		{0x7800, math.Float32bits(32768)},             // 2^15
		{0x0401, math.Float32bits(0x1p-14 + 0x1p-24)}, // smallest normal + ulp
	}
	for _, c := range cases {
		if got := math.Float32bits(kernels.FP16ToFP32(c.h)); got != c.want {
			t.Errorf("FP16ToFP32(%#04x) = %#08x, want %#08x", c.h, got, c.want)
		}
	}
}

func TestFP32ToFP16Table(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65519.996, 0x7bff},             // just below the tie to Inf
		{65520, 0x7c00},                 // tie between 65504 and 2^16: even is Inf
		{-65520, 0xfc00},                //
		{1e10, 0x7c00},                  // overflow
		{float32(math.Inf(1)), 0x7c00},  //
		{float32(math.Inf(-1)), 0xfc00}, //
		{float32(math.NaN()), 0x7e00},   // NaN -> canonical quiet NaN
		{math.Float32frombits(0xff800001), 0xfe00},
		{1 + 0x1p-11, 0x3c00},             // tie, even down
		{1 + 3*0x1p-11, 0x3c02},           // tie, even up
		{1 + 0x1p-11 + 0x1p-23, 0x3c01},   // just above the tie
		{0x1p-14, 0x0400},                 // smallest normal
		{0x1p-24, 0x0001},                 // smallest subnormal
		{0x1p-25, 0x0000},                 // tie with zero: even is zero
		{0x1p-25 + 0x1p-48, 0x0001},       // just above it
		{-0x1p-25, 0x8000},                // negative underflow keeps sign
		{3 * 0x1p-25, 0x0002},             // tie between 1 and 2 subnormal units
		{5 * 0x1p-25, 0x0002},             // tie between 2 and 3
		{0x1p-26, 0x0000},                 // far below
		{1e-30, 0x0000},                   //
		{0x1p-14 - 0x1p-25, 0x0400},       // largest subnormal + half ulp ties up to normal
		{1023 * 0x1p-24, 0x03ff},          // largest subnormal
		{math.Float32frombits(1), 0x0000}, // float32 subnormal
		{math.MaxFloat32, 0x7c00},         //
		{0.1, 0x2e66},                     //
		{-1.0 / 3, 0xb555},                //
		{65536, 0x7c00},                   //
		{2049, 0x6800},                    // tie at exponent 11: even is 2048
		{2051, 0x6802},                    // tie: even is 2052
	}
	for _, c := range cases {
		if got := kernels.FP32ToFP16(c.f); got != c.want {
			t.Errorf("FP32ToFP16(%g = %#08x) = %#04x, want %#04x", c.f, math.Float32bits(c.f), got, c.want)
		}
	}
}

// TestFP16RoundTrip checks every binary16 value through float32 and back.
func TestFP16RoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		h := uint16(h)
		f := kernels.FP16ToFP32(h)
		want := h
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			want = h&0x8000 | 0x7e00
		}
		if got := kernels.FP32ToFP16(f); got != want {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, got)
		}
	}
}

// TestFP32ToFP16Nearest compares FP32ToFP16 with a search for the nearest
// binary16 value, on random bit patterns and on every midpoint.
func TestFP32ToFP16Nearest(t *testing.T) {
	// Non-negative binary16 encodings are ordered like their values; 0x7c00
	// stands for 2^16, where rounding up from 65504 lands.
	vals := make([]float64, 0x7c01)
	for h := range vals {
		vals[h] = float64(kernels.FP16ToFP32(uint16(h)))
	}
	vals[0x7c00] = 65536
	nearest := func(f float32) uint16 {
		a := math.Abs(float64(f))
		sign := uint16(0)
		if math.Signbit(float64(f)) {
			sign = 0x8000
		}
		if a >= 65536 {
			return sign | 0x7c00
		}
		hi := sort.SearchFloat64s(vals, a) // first value >= a
		if vals[hi] == a {
			return sign | uint16(hi)
		}
		lo := hi - 1
		dlo, dhi := a-vals[lo], vals[hi]-a
		if dlo < dhi || dlo == dhi && lo%2 == 0 {
			return sign | uint16(lo)
		}
		return sign | uint16(hi)
	}
	check := func(f float32) {
		if got, want := kernels.FP32ToFP16(f), nearest(f); got != want {
			t.Fatalf("FP32ToFP16(%g = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	for h := range 0x7c00 { // each midpoint, and the floats on either side
		m := float32((vals[h] + vals[h+1]) / 2)
		check(m)
		check(math.Nextafter32(m, 0))
		check(math.Nextafter32(m, 1e6))
		check(-m)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 1 << 20 {
		f := math.Float32frombits(rng.Uint32())
		if f != f || math.IsInf(float64(f), 0) {
			continue
		}
		check(f)
	}
}

func TestBF16(t *testing.T) {
	cases := []struct {
		bits uint32
		want uint16
	}{
		{0x00000000, 0x0000},
		{0x80000000, 0x8000},
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even down
		{0x3f818000, 0x3f82}, // tie, even up
		{0x3f808001, 0x3f81}, // above the tie
		{0x3f807fff, 0x3f80}, // below the tie
		{0x7f7fffff, 0x7f80}, // max float rounds to Inf
		{0x7f800000, 0x7f80}, // +Inf
		{0xff800000, 0xff80}, // -Inf
		{0x7fc00000, 0x7fc0}, // quiet NaN
		{0x7f800001, 0x7fc0}, // signalling NaN made quiet
		{0x7f810000, 0x7fc1}, // payload kept
		{0xff810000, 0xffc1}, // negative NaN
		{0x00000001, 0x0000}, // float32 subnormal, not flushed: rounds to 0
		{0x00008000, 0x0000}, // subnormal tie, even down
		{0x00018000, 0x0002}, // subnormal tie, even up
		{0x00010000, 0x0001}, // subnormal kept
		{0x807fffff, 0x8080}, // negative largest subnormal rounds up to normal
	}
	for _, c := range cases {
		f := math.Float32frombits(c.bits)
		if got := kernels.FP32ToBF16(f); got != c.want {
			t.Errorf("FP32ToBF16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
	for h := range 1 << 16 {
		if got := math.Float32bits(kernels.BF16ToFP32(uint16(h))); got != uint32(h)<<16 {
			t.Fatalf("BF16ToFP32(%#04x) = %#08x", h, got)
		}
	}
}
