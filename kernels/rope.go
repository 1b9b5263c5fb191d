package kernels

import "math"

// Rope rotates pairs of each head's dimensions by position-dependent angles
// (rotary position embedding).
type Rope struct {
	// Freqs[i] is the angular frequency of pair i; len = rotated dims / 2.
	Freqs []float32
	// NeoX pairs dimension i with i+len(Freqs) instead of 2i with 2i+1.
	NeoX bool
}

// RopeFreqs computes the frequencies of a head whose first rotDim
// dimensions rotate: freq_i = 1 / base^(2i/rotDim), in float32 as llama2.c
// computes them. factors, when non-nil, divides each frequency (GGUF's
// rope_freqs tensor).
func RopeFreqs(rotDim int, base float64, factors []float32) []float32 {
	f := make([]float32, rotDim/2)
	for i := range f {
		e := float32(2*i) / float32(rotDim)
		f[i] = 1 / float32(math.Pow(base, float64(e)))
		if factors != nil {
			f[i] /= factors[i]
		}
	}
	return f
}

// Llama3Scale applies Llama-3's frequency scaling to freqs in place: low
// frequencies (wavelength past original/lowFactor) are divided by factor,
// high ones (wavelength under original/highFactor) kept, the band between
// interpolated smoothly.
func Llama3Scale(freqs []float32, factor, lowFactor, highFactor float64, original int) {
	lowWavelen := float64(original) / lowFactor
	highWavelen := float64(original) / highFactor
	for i, f := range freqs {
		freq := float64(f)
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
		case wavelen > lowWavelen:
			freqs[i] = float32(freq / factor)
		default:
			smooth := (float64(original)/wavelen - lowFactor) / (highFactor - lowFactor)
			freqs[i] = float32((1-smooth)*freq/factor + smooth*freq)
		}
	}
}

// Apply rotates every head of x (heads of headDim values each) for
// position pos.
func (r *Rope) Apply(x []float32, headDim, pos int) {
	half := len(r.Freqs)
	for i, freq := range r.Freqs {
		angle := float32(pos) * freq
		c := float32(math.Cos(float64(angle)))
		s := float32(math.Sin(float64(angle)))
		a, b := 2*i, 2*i+1
		if r.NeoX {
			a, b = i, i+half
		}
		for h := 0; h+headDim <= len(x); h += headDim {
			x0, x1 := x[h+a], x[h+b]
			x[h+a] = x0*c - x1*s
			x[h+b] = x0*s + x1*c
		}
	}
}
