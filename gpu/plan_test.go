package gpu

import (
	"math"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

func TestPlanChunks(t *testing.T) {
	cases := []struct {
		rows     int
		rowBytes int64
		max      int64
		want     int
	}{
		{rows: 10, rowBytes: 18, max: 1 << 20, want: 1},
		{rows: 128256, rowBytes: 4608, max: 128 << 20, want: 5}, // Llama-3 head, Q4_0, default binding
		{rows: 128256, rowBytes: 4608, max: 2<<30 - 4, want: 1},
		{rows: 45, rowBytes: 816, max: 816*10 + 4, want: 5},
	}
	for _, c := range cases {
		chunks, err := PlanChunks(c.rows, c.rowBytes, c.max)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) != c.want {
			t.Errorf("%d rows of %d in %d: %d chunks, want %d", c.rows, c.rowBytes, c.max, len(chunks), c.want)
		}
		next := 0
		for _, ch := range chunks {
			if ch.RowBegin != next || ch.RowEnd <= ch.RowBegin || ch.BufferBytes() > c.max || ch.BufferBytes()%4 != 0 ||
				ch.Bytes != int64(ch.RowEnd-ch.RowBegin)*c.rowBytes {
				t.Fatalf("bad chunk %+v in %v", ch, chunks)
			}
			next = ch.RowEnd
		}
		if next != c.rows {
			t.Fatalf("chunks end at row %d of %d", next, c.rows)
		}
	}
	if _, err := PlanChunks(4, 1000, 999); err == nil {
		t.Fatal("a row larger than a binding was accepted")
	}
}

func TestUploadPieces(t *testing.T) {
	for _, rb := range []int64{18, 34, 210, 110, 4608, 7} {
		pieces := UploadPieces(1000, rb, 4096)
		total := 0
		for i, n := range pieces {
			if i < len(pieces)-1 && int64(n)*rb%4 != 0 {
				t.Errorf("row bytes %d: piece %d of %d rows is not whole words", rb, i, n)
			}
			total += n
		}
		if total != 1000 {
			t.Errorf("row bytes %d: pieces cover %d rows", rb, total)
		}
	}
}

func TestGrid(t *testing.T) {
	for _, n := range []int{1, 100, 65535, 65536, 200000, 128256 * 8} {
		x, y := Grid(n)
		if x > 65535 || y > 65535 || int(x)*int(y) < n {
			t.Errorf("Grid(%d) = %d×%d", n, x, y)
		}
	}
}

func TestRopeTableMatchesApply(t *testing.T) {
	freqs := kernels.RopeFreqs(8, 10000, nil)
	r := kernels.Rope{Freqs: freqs}
	tab := RopeTable(freqs, 1000, 3)
	for i := range 3 {
		x := []float32{1, 0, 1, 0, 1, 0, 1, 0}
		r.Apply(x, 8, 1000+i)
		for j := range freqs {
			c, s := tab[2*(i*len(freqs)+j)], tab[2*(i*len(freqs)+j)+1]
			if math.Float32bits(x[2*j]) != math.Float32bits(c) || math.Float32bits(x[2*j+1]) != math.Float32bits(s) {
				t.Fatalf("position %d pair %d: table (%g, %g), Apply (%g, %g)", 1000+i, j, c, s, x[2*j], x[2*j+1])
			}
		}
	}
}

func TestParamsLayout(t *testing.T) {
	w := MatVecParams{Rows: 1, RowBytes: 2, Units: 3, XOff: 4, XStride: 5, YOff: 6, YStride: 7, Accumulate: true}.Words()
	for i, v := range w {
		if v != uint32(i+1) && !(i == 7 && v == 1) {
			t.Fatalf("MatVec words %v", w)
		}
	}
}
