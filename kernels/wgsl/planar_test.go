package wgsl

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

func TestResolveXMode(t *testing.T) {
	cases := []struct {
		typ   kernels.DType
		cols  int
		split bool
		want  XMode
		got   XMode
		err   bool
	}{
		{kernels.Q4_0, 8192, true, XAuto, DefaultXMode, false},
		{kernels.Q4_0, 8192, true, XPlanar, XPlanar, false},
		{kernels.Q4_0, 8192, true, XDirect, XAuto, true},
		{kernels.Q4_0, 8192, false, XInt8, XDirect, false},
		{kernels.Q4_0, 96, true, XAuto, XAuto, true},
		{kernels.Q4_K, 8192, false, XInt8Coarse, XInt8Coarse, false},
		{kernels.Q4_K, 8192, false, XDirect, XDirect, false},
		{kernels.Q6_K, 8192, false, XInt8, XInt8, false},
		{kernels.Q6_K, 8192, false, XAuto, DefaultXMode, false},
		{kernels.Q3_K, 8192, false, XPlanar, XDirect, false}, // no f32 planar kernel
		{kernels.Q2_K, 8192, false, XDirect, XDirect, false},
		{kernels.F32, 8192, false, XAuto, XDirect, false},
	}
	for _, c := range cases {
		got, err := ResolveXMode(c.typ, c.cols, c.split, c.want)
		if (err != nil) != c.err || (err == nil && got != c.got) {
			t.Errorf("ResolveXMode(%s, %d, %v, %v) = %v, %v", c.typ, c.cols, c.split, c.want, got, err)
		}
		if err != nil && !errors.Is(err, ErrUnsupported) {
			t.Errorf("error %v is not ErrUnsupported", err)
		}
	}
}

func TestAssemblePlanar(t *testing.T) {
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q8_0, kernels.Q4_K, kernels.Q2_K, kernels.Q3_K, kernels.Q6_K} {
		for _, m := range []XMode{XPlanar, XInt8, XInt8Coarse} {
			if r, _ := ResolveXMode(typ, 8192, Split(typ, 8192), m); r != m {
				continue
			}
			split := Split(typ, 8192)
			src, err := MatVec(typ, 8192, split, m, MatVecShape{WG: 256, TPR: 32, RT: 4}, Device{Subgroups: true, SubgroupMaxSize: 32})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"fn unit_dot", "fn load_x", "fn plane", "acc3"} {
				if !strings.Contains(src, want) {
					t.Errorf("%s %v matvec lacks %q", typ, m, want)
				}
			}
			if strings.Count(src, "fn deq(") != 0 {
				t.Errorf("%s %v matvec holds a deq", typ, m)
			}
			for _, swiglu := range []bool{false, true} {
				p, err := Prep(typ, m, swiglu)
				if err != nil || !strings.Contains(p, "const UNIT: u32") || !strings.Contains(p, "fn prep_unit") {
					t.Errorf("%s %v prep (swiglu %v): %v", typ, m, swiglu, err)
				}
			}
			p, err := NormPrep(typ, m)
			if err != nil || !strings.Contains(p, "fn prep_unit") || !strings.Contains(p, "norm_scale") {
				t.Errorf("%s %v norm prep: %v", typ, m, err)
			}
		}
	}
	if _, err := Prep(kernels.Q4_0, XDirect, false); err == nil {
		t.Error("a prep for direct x")
	}
	if _, err := NormPrep(kernels.Q4_0, XDirect); err == nil {
		t.Error("a norm prep for direct x")
	}
}

func TestSplitRows(t *testing.T) {
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q8_0} {
		cols, rows := 512, 3
		rb, _ := typ.RowBytes(int64(cols))
		bs := int(rb) / (cols / 32)
		data := make([]byte, int(rb)*rows)
		for i := range data {
			data[i] = byte(i*7 + i/13)
		}
		orig := bytes.Clone(data)
		if err := SplitRows(typ, cols, data); err != nil {
			t.Fatal(err)
		}
		for r := range rows {
			row, src := data[r*int(rb):], orig[r*int(rb):]
			for b := range cols / 32 {
				blk := src[b*bs : (b+1)*bs]
				if !bytes.Equal(row[2*b:2*b+2], blk[:2]) || !bytes.Equal(row[2*(cols/32)+(bs-2)*b:][:bs-2], blk[2:]) {
					t.Fatalf("%s row %d block %d misplaced", typ, r, b)
				}
			}
		}
	}
	if err := SplitRows(kernels.Q4_0, 96, make([]byte, 54)); err == nil {
		t.Error("split rows of 96 values")
	}
}
