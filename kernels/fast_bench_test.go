package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchTypes are the weight types BenchmarkMatVec measures.
var benchTypes = []DType{F32, F16, Q8_0, Q4_0, Q4_K, Q6_K}

// benchMatrix returns a rows×cols matrix of type t holding random values:
// 64 distinct rows quantized by the codec, repeated (a matvec reads every
// row from memory all the same).
func benchMatrix(b *testing.B, t DType, rows, cols int) *Matrix {
	b.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	rb, err := t.RowBytes(int64(cols))
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, int(rb)*rows)
	distinct := min(rows, 64)
	for r := range distinct {
		mustCodecOf(b, t).Quantize(data[r*int(rb):(r+1)*int(rb)], randomF32(rng, cols))
	}
	for r := distinct; r < rows; r++ {
		copy(data[r*int(rb):(r+1)*int(rb)], data[(r%distinct)*int(rb):])
	}
	m, err := NewMatrix(t, rows, cols, data)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func mustCodecOf(b testing.TB, t DType) *Codec {
	c, err := t.Codec()
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchFootprint is the least memory the copies of a matrix that
// BenchmarkMatVec cycles through take together: more than the last-level
// cache (260 MiB on the development machine), so that the weights come
// from memory as a model's do.
const benchFootprint = 512 << 20

// copies returns m and enough copies of it to fill benchFootprint.
func copies(b *testing.B, m *Matrix) []*Matrix {
	ms := []*Matrix{m}
	for len(ms)*len(m.Data) < benchFootprint {
		c, err := NewMatrix(m.Type, m.Rows, m.Cols, append([]byte(nil), m.Data...))
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, c)
	}
	return ms
}

// benchMatVec measures MatMul of one vector on cores cores, cycling through
// ms, the bytes per second being those of the weights.
func benchMatVec(b *testing.B, ms []*Matrix, cores int) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cores))
	x := randomF32(rand.New(rand.NewPCG(7, 8)), ms[0].Cols)
	y := make([]float32, ms[0].Rows)
	b.SetBytes(int64(len(ms[0].Data)))
	i := 0
	for b.Loop() {
		ms[i%len(ms)].MatMul(y, x, 1)
		i++
	}
}

// BenchmarkMatVec measures one matrix-vector product per type, on one core
// and on all, in GB/s of weights read. Sizes are rows×cols. For 4096×4096
// it also measures each path MatMul can take: "asm" (amd64 with AVX2),
// "go" (the pure-Go fast path, the one wasm runs) and "codec" (the codec's
// float64 Dot, what MatMul used before); the 4096×14336 rows use the path
// MatMul picks.
func BenchmarkMatVec(b *testing.B) {
	all := runtime.GOMAXPROCS(0)
	for _, t := range benchTypes {
		for _, size := range [][2]int{{4096, 4096}, {4096, 14336}} {
			impls := []string{""}
			if size[1] == 4096 {
				impls = []string{"go/", "codec/"}
				if useAsm {
					impls = append([]string{"asm/"}, impls...)
				}
			}
			var ms []*Matrix
			for _, impl := range impls {
				for _, cores := range []int{1, all} {
					name := fmt.Sprintf("%s/%dx%d/%scores=%d", t, size[0], size[1], impl, cores)
					b.Run(name, func(b *testing.B) {
						if ms == nil {
							ms = copies(b, benchMatrix(b, t, size[0], size[1]))
						}
						benchImpl(b, ms, impl, cores)
					})
				}
			}
		}
	}
}

// benchImpl measures the matvecs of ms through the path impl names (""
// for the one MatMul picks).
func benchImpl(b *testing.B, ms []*Matrix, impl string, cores int) {
	switch impl {
	case "go/":
		withAsm(b, false, func() { benchMatVec(b, ms, cores) })
	case "codec/":
		fast, panels := ms[0].dotRows, ms[0].floats
		for _, m := range ms {
			m.dotRows, m.floats = rowsCodec, nil
		}
		defer func() {
			for _, m := range ms {
				m.dotRows, m.floats = fast, panels
			}
		}()
		benchMatVec(b, ms, cores)
	default:
		benchMatVec(b, ms, cores)
	}
}

// BenchmarkMatVecSmall measures F32 matvecs of the sizes small models have
// (cache-resident, as they are in a forward pass), on one core and on all:
// where MatMul's minParallelWork should lie.
func BenchmarkMatVecSmall(b *testing.B) {
	all := runtime.GOMAXPROCS(0)
	for _, size := range [][2]int{{64, 64}, {172, 64}, {512, 64}, {256, 256}, {512, 512}, {768, 768}, {2048, 768}} {
		ms := []*Matrix{benchMatrix(b, F32, size[0], size[1])}
		for _, cores := range []int{1, all} {
			b.Run(fmt.Sprintf("%dx%d/cores=%d", size[0], size[1], cores), func(b *testing.B) {
				benchMatVec(b, ms, cores)
			})
		}
	}
}

// BenchmarkMemcpy copies 64 MiB, and 512 MiB (more than the last-level
// cache): the machine's copy bandwidth, to read BenchmarkMatVec's GB/s
// against (bytes copied; each is read and written).
func BenchmarkMemcpy(b *testing.B) {
	for _, size := range []int{64 << 20, 512 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			src, dst := make([]byte, size), make([]byte, size)
			for i := range src {
				src[i] = byte(i)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}
