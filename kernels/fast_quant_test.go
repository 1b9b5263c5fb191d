package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// fastTypes are the types with a fast path, and the row lengths each is
// tested with (a whole number of blocks; any length for F32 and F16).
var fastTypes = []struct {
	typ  DType
	cols []int
}{
	{F32, oddLengths},
	{F16, oddLengths},
	{Q8_0, []int{32, 64, 96, 160, 768, 1024}},
	{Q4_0, []int{32, 64, 96, 160, 768, 1024}},
	{Q4_K, []int{256, 512, 768, 2048}},
	{Q6_K, []int{256, 512, 768, 2048}},
}

// randomMatrix quantizes a rows×cols matrix of random values to t and
// returns it with its rows dequantized.
func randomMatrix(t testing.TB, rng *rand.Rand, typ DType, rows, cols int) (*Matrix, [][]float32) {
	t.Helper()
	rb, err := typ.RowBytes(int64(cols))
	if err != nil {
		t.Fatal(err)
	}
	c := mustCodecOf(t, typ)
	data := make([]byte, int(rb)*rows)
	deq := make([][]float32, rows)
	for r := range rows {
		c.Quantize(data[r*int(rb):(r+1)*int(rb)], randomF32(rng, cols))
		deq[r] = make([]float32, cols)
		c.Dequantize(deq[r], data[r*int(rb):(r+1)*int(rb)])
	}
	m, err := NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m, deq
}

// TestMatMulFastMatchesCodec holds every fast path, in Go and in assembly,
// to the codec's Dot within fastTolerance·Σ|wᵢxᵢ|, and the assembly to the
// Go bit for bit.
func TestMatMulFastMatchesCodec(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, ft := range fastTypes {
		for _, cols := range ft.cols {
			t.Run(fmt.Sprintf("%s/%d", ft.typ, cols), func(t *testing.T) {
				const rows = 7
				m, deq := randomMatrix(t, rng, ft.typ, rows, cols)
				x := randomF32(rng, cols)
				goY, asmY := make([]float32, rows), make([]float32, rows)
				withAsm(t, false, func() { m.MatMul(goY, x, 1) })
				m.MatMul(asmY, x, 1)
				for r := range rows {
					want := m.codec.Dot(m.Row(r), x)
					tol := fastTolerance * absDot(deq[r], x)
					if d := math.Abs(float64(goY[r]) - float64(want)); d > tol {
						t.Errorf("row %d: fast %v, codec %v (|Δ| %g > %g)", r, goY[r], want, d, tol)
					}
					if math.Float32bits(asmY[r]) != math.Float32bits(goY[r]) {
						t.Errorf("row %d: assembly %v, Go %v", r, asmY[r], goY[r])
					}
				}
			})
		}
	}
}

// TestMatMulBatchEqualsMatVec checks that a batch, split over the cores or
// not, gives each vector the bits of its own matvec in pure Go (the
// four-vector kernel of F32 and Q8_0 included).
func TestMatMulBatchEqualsMatVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, ft := range fastTypes {
		for _, shape := range [][3]int{{40, 256, 5}, {600, 512, 5}, {37, 768, 9}, {20, 512, 8}, {19, 256, 6}, {45, 256, 7}, {33, 256, 3}, {17, 512, 2}} {
			m, _ := randomMatrix(t, rng, ft.typ, shape[0], shape[1])
			n := shape[2] // F32 dots four vectors at a time: groups and a rest
			xs := randomF32(rng, n*m.Cols)
			want := make([]float32, n*m.Rows)
			withAsm(t, false, func() {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				for i := range n {
					m.MatMul(want[i*m.Rows:(i+1)*m.Rows], xs[i*m.Cols:(i+1)*m.Cols], 1)
				}
			})
			for _, procs := range []int{1, 2, 3} {
				func() {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					got := make([]float32, n*m.Rows)
					m.MatMul(got, xs, n)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %v GOMAXPROCS=%d: output %d batched %v, matvec %v", ft.typ, shape, procs, i, got[i], want[i])
						}
					}
				}()
			}
		}
	}
}

// TestViewUnaligned checks that F32 and F16 matrices whose data is not
// aligned to their element (read through a decoded copy, as on big-endian
// machines) give the bits of aligned ones.
func TestViewUnaligned(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, typ := range []DType{F32, F16} {
		aligned, _ := randomMatrix(t, rng, typ, 3, 40)
		buf := make([]byte, len(aligned.Data)+1)
		copy(buf[1:], aligned.Data)
		odd, err := NewMatrix(typ, 3, 40, buf[1:])
		if err != nil {
			t.Fatal(err)
		}
		x := randomF32(rng, 40)
		want, got := make([]float32, 3), make([]float32, 3)
		aligned.MatMul(want, x, 1)
		odd.MatMul(got, x, 1)
		for r := range got {
			if math.Float32bits(got[r]) != math.Float32bits(want[r]) {
				t.Errorf("%s row %d: unaligned %v, aligned %v", typ, r, got[r], want[r])
			}
		}
	}
}

// TestMatMulsEqualsMatMul checks that matrices sharing one hand-out of rows
// give the bits of their own MatMul, however many cores split them.
func TestMatMulsEqualsMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	const cols, n = 512, 3
	var ms []*Matrix
	for _, spec := range []struct {
		typ  DType
		rows int
	}{{F32, 300}, {Q8_0, 7}, {Q4_K, 450}} {
		m, _ := randomMatrix(t, rng, spec.typ, spec.rows, cols)
		ms = append(ms, m)
	}
	xs := randomF32(rng, n*cols)
	want := make([][]float32, len(ms))
	for i, m := range ms {
		want[i] = make([]float32, n*m.Rows)
		m.MatMul(want[i], xs, n)
	}
	for _, procs := range []int{1, 2, 3} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			got := make([][]float32, len(ms))
			for i, m := range ms {
				got[i] = make([]float32, n*m.Rows)
			}
			MatMuls(xs, n, ms, got)
			for i := range ms {
				for j := range got[i] {
					if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
						t.Fatalf("GOMAXPROCS=%d matrix %d output %d: %v, MatMul %v", procs, i, j, got[i][j], want[i][j])
					}
				}
			}
		}()
	}
}

// TestMatMulZeroColumns: a matrix of empty rows gives zeros, alone and in
// a batch, in Go and in assembly.
func TestMatMulZeroColumns(t *testing.T) {
	for _, ft := range fastTypes {
		m, err := NewMatrix(ft.typ, 3, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", ft.typ, err)
		}
		for _, asm := range []bool{false, true} {
			for _, n := range []int{1, 2, 5} {
				ys := make([]float32, n*3)
				for i := range ys {
					ys[i] = 1
				}
				withAsm(t, asm, func() { m.MatMul(ys, nil, n) })
				for i, y := range ys {
					if y != 0 {
						t.Fatalf("%s asm %v n=%d: output %d is %v", ft.typ, asm, n, i, y)
					}
				}
			}
		}
	}
}
