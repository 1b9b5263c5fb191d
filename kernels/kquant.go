package kernels

import "math"

// Shared pieces of the K-quants (256-value super-blocks) and their
// quantizers: ggml's rounding, its three scale-search procedures, and the
// bit packings two types share. Float arithmetic is float32 in ggml's order;
// see qcommon.go for why some products carry a float32() conversion.

const (
	qkK = 256 // values per K-quant super-block

	// groupMaxEps is the magnitude below which ggml treats a group as zero.
	groupMaxEps = 1e-15
)

// nearestInt rounds v half to even the way ggml's nearest_int does (adding
// 1.5×2^23 in float32); it is exact for |v| < 2^22.
func nearestInt(v float32) int {
	t := float32(v) + 12582912
	return int(math.Float32bits(t)&0x7fffff) - 0x400000
}

// clampInt limits v to [lo, hi].
func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// makeQXQuants finds a symmetric scale for x with codes in [-nmax, nmax-1],
// weighting each value by x², by trying 19 inverse scales around
// -nmax/max. It writes the codes plus nmax to L and returns the scale
// (ggml's make_qx_quants with rmse_type 1 and no importance weights).
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	max, amax := signedAbsMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := float32(-nmax) / max
	sumlx, suml2 := qxFit(nmax, x, iscale, L)
	scale := float32(0)
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / max
		sumlx, suml2 = qxFit(nmax, x, iscale, nil)
		if suml2 > 0 && sumlx*sumlx > best*suml2 {
			qxFit(nmax, x, iscale, L)
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// qxFit codes x with inverse scale iscale, storing code+nmax in L unless L
// is nil, and returns the x²-weighted sums Σw·x·l and Σw·l².
func qxFit(nmax int, x []float32, iscale float32, L []int8) (sumlx, suml2 float32) {
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		if L != nil {
			L[i] = int8(l + nmax)
		}
		w, fl := v*v, float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	return sumlx, suml2
}

// makeQ3Quants finds a symmetric scale for the 16 values of x with codes
// in [-nmax, nmax-1]: it codes from -nmax/max, then moves single codes
// while that improves the x²-weighted fit, at most five sweeps. It writes
// code+nmax to L and returns the scale (ggml's make_q3_quants, do_rmse).
func makeQ3Quants(nmax int, x []float32, L []int8) float32 {
	max, amax := signedAbsMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l)
		w, fl := v*v, float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	for range 5 {
		changed := false
		sumlx, suml2, changed = q3Sweep(nmax, x, L, sumlx, suml2)
		if !changed {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// q3Sweep is one pass of makeQ3Quants' refinement: each value in turn is
// re-coded against the fit of the others, and the change is kept when the
// fit's figure of merit (Σw·x·l)²/Σw·l² grows.
func q3Sweep(nmax int, x []float32, L []int8, sumlx, suml2 float32) (float32, float32, bool) {
	changed := false
	for i, v := range x {
		w, old := v*v, float32(L[i])
		slx := sumlx - float32(w*v*old)
		if !(slx > 0) {
			continue
		}
		sl2 := suml2 - float32(w*old*old)
		nl := clampInt(nearestInt(v*sl2/slx), -nmax, nmax-1)
		if nl == int(L[i]) {
			continue
		}
		fl := float32(nl)
		slx += float32(w * v * fl)
		sl2 += float32(w * fl * fl)
		if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
			L[i], sumlx, suml2, changed = int8(nl), slx, sl2, true
		}
	}
	return sumlx, suml2, changed
}

// affineSearch describes one use of makeQKX2Quants: codes 0..nmax, and
// nstep+1 trial inverse scales (rmin + rdelta·k + nmax)/(max-min).
type affineSearch struct {
	nmax          int
	rmin, rdelta  float32
	nstep         int
	absoluteError bool // weigh |error| instead of error²
}

// makeQKX2Quants fits x ≈ scale·L - min with L in 0..nmax and min >= 0,
// minimising the weighted error over the search's trial scales, each
// refined by weighted least squares (ggml's make_qkx2_quants). It writes
// the codes to L, uses laux as scratch, and returns scale and min.
func makeQKX2Quants(s *affineSearch, x, weights []float32, L, laux []uint8) (scale, negMin float32) {
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < len(x); i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		clear(L)
		return 0, -lo
	}
	iscale := float32(s.nmax) / (hi - lo)
	scale = 1 / iscale
	affineCodes(s.nmax, x, iscale, lo, L)
	bestErr := affineError(x, weights, L, scale, lo, s.absoluteError)
	if s.nstep < 1 {
		return scale, -lo
	}
	for is := 0; is <= s.nstep; is++ {
		iscale = (float32(s.rmin+float32(s.rdelta*float32(is))) + float32(s.nmax)) / (hi - lo)
		affineCodes(s.nmax, x, iscale, lo, laux)
		thisScale, thisMin, ok := affineLeastSquares(x, weights, laux, sumW, sumX)
		if !ok {
			continue
		}
		if e := affineError(x, weights, laux, thisScale, thisMin, s.absoluteError); e < bestErr {
			copy(L, laux)
			bestErr, scale, lo = e, thisScale, thisMin
		}
	}
	return scale, -lo
}

// affineCodes writes clamp(nearest(iscale·(x-lo)), 0, nmax) to L.
func affineCodes(nmax int, x []float32, iscale, lo float32, L []uint8) {
	for i, v := range x {
		L[i] = uint8(clampInt(nearestInt(iscale*(v-lo)), 0, nmax))
	}
}

// affineError is Σ w·err² (or Σ w·|err|) of x against scale·L + lo.
func affineError(x, weights []float32, L []uint8, scale, lo float32, absolute bool) float32 {
	var sum float32
	for i, v := range x {
		diff := float32(scale*float32(L[i])) + lo - v
		if absolute {
			diff = abs32(diff)
		} else {
			diff = diff * diff
		}
		sum += float32(weights[i] * diff)
	}
	return sum
}

// affineLeastSquares solves the weighted least-squares fit x ≈ scale·L + m
// for fixed codes, forcing m <= 0; ok is false when the system is singular.
func affineLeastSquares(x, weights []float32, L []uint8, sumW, sumX float32) (scale, m float32, ok bool) {
	var sumL, sumL2, sumXL float32
	for i, v := range x {
		w, fl := weights[i], float32(L[i])
		sumL += float32(w * fl)
		sumL2 += float32(w * fl * fl)
		sumXL += float32(w * fl * v)
	}
	D := float32(sumW*sumL2) - float32(sumL*sumL)
	if !(D > 0) {
		return 0, 0, false
	}
	scale = (float32(sumW*sumXL) - float32(sumX*sumL)) / D
	m = (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
	if m > 0 {
		m, scale = 0, sumXL/sumL2
	}
	return scale, m, true
}

// pack2Bit stores 256 two-bit codes as Q2_K and Q3_K do: byte l of each
// 32-byte half carries values l, l+32, l+64, l+96 of that half's 128.
func pack2Bit[T int8 | uint8](qs []byte, L *[qkK]T) {
	for h := range 2 {
		for l := range 32 {
			b := L[128*h+l] | L[128*h+l+32]<<2 | L[128*h+l+64]<<4 | L[128*h+l+96]<<6
			qs[32*h+l] = byte(b)
		}
	}
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) from
// Q4_K's and Q5_K's 12-byte field.
func scaleMinK4(j int, b *[12]byte) (sc, m uint8) {
	if j < 4 {
		return b[j] & 63, b[j+4] & 63
	}
	return b[j+4]&0xf | (b[j-4]>>6)<<4, b[j+4]>>4 | (b[j]>>6)<<4
}

// packScaleMinK4 is the inverse of scaleMinK4 for all eight sub-blocks.
func packScaleMinK4(b *[12]byte, ls, lm *[8]uint8) {
	for j := range 8 {
		if j < 4 {
			b[j], b[j+4] = ls[j], lm[j]
			continue
		}
		b[j+4] = ls[j]&0xf | (lm[j]&0xf)<<4
		b[j-4] |= (ls[j] >> 4) << 6
		b[j] |= (lm[j] >> 4) << 6
	}
}
