package wgsl

import (
	"bytes"
	"errors"
	"fmt"
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
		{kernels.Q5_K, 8192, false, XAuto, DefaultXMode, false},
		{kernels.Q5_K, 8192, false, XDirect, XInt8, false}, // the int8 kernel alone
		{kernels.Q5_0, 96, false, XPlanar, XInt8, false},
		{kernels.Q5_1, 96, false, XInt8Coarse, XInt8Coarse, false},
		{kernels.Q4_1, 8192, true, XAuto, XAuto, true}, // never split
		{kernels.Q4_1, 8192, false, XDirect, XInt8, false},
		{kernels.IQ4_XS, 8192, false, XPlanar, XInt8, false},
		{kernels.IQ4_NL, 96, false, XAuto, DefaultXMode, false},
		{kernels.BF16, 8192, false, XAuto, XDirect, false}, // no kernel at all: MatVec refuses it
		{kernels.Q6_K, 8192, true, XPlanar, XInt8, false},  // split: int8 only
		{kernels.Q6_K, 8192, true, XDirect, XAuto, true},
		{kernels.Q6_K, 768, true, XAuto, XAuto, true}, // 3 super-blocks: never split
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
	for _, typ := range []kernels.DType{kernels.Q4_0, kernels.Q8_0, kernels.Q4_K, kernels.Q2_K, kernels.Q3_K, kernels.Q6_K,
		kernels.Q5_K, kernels.Q5_0, kernels.Q5_1, kernels.Q4_1, kernels.IQ4_NL, kernels.IQ4_XS} {
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
	// Q6_K's scale is the last 2 bytes of its 210: the rest keeps its order.
	cols, rows := 2048, 2
	rb, _ := kernels.Q6_K.RowBytes(int64(cols))
	data := make([]byte, int(rb)*rows)
	for i := range data {
		data[i] = byte(i*11 + i/7)
	}
	orig := bytes.Clone(data)
	if err := SplitRows(kernels.Q6_K, cols, data); err != nil {
		t.Fatal(err)
	}
	for r := range rows {
		row, src := data[r*int(rb):], orig[r*int(rb):]
		for b := range cols / 256 {
			blk := src[b*210 : (b+1)*210]
			if !bytes.Equal(row[2*b:2*b+2], blk[208:]) || !bytes.Equal(row[2*(cols/256)+208*b:][:208], blk[:208]) {
				t.Fatalf("Q6_K row %d block %d misplaced", r, b)
			}
		}
	}
	if err := SplitRows(kernels.Q4_0, 96, make([]byte, 54)); err == nil {
		t.Error("split rows of 96 values")
	}
	if err := SplitRows(kernels.Q6_K, 1792, make([]byte, 7*210)); err == nil {
		t.Error("split Q6_K rows of 7 super-blocks")
	}
}

// TestKUnit checks the assembly of the Q4_K and Q5_K matvecs of each
// unit: the old kernels for 64 values, the super-block ones for 128 and
// 256 with their marked lines written once per group (and per decoded
// half of the scales), their loop over a SPAN-th of the prepared units,
// no prefetch; other units are refused.
func TestKUnit(t *testing.T) {
	defer func(u int) { KUnit = u }(KUnit)
	for _, typ := range []kernels.DType{kernels.Q4_K, kernels.Q5_K} {
		for _, c := range []struct{ unit, span, halves int }{{64, 1, 0}, {128, 2, 1}, {256, 4, 2}} {
			KUnit = c.unit
			sh := MatVecShape{WG: 64, TPR: 32, RT: 4, Prefetch: true}
			src, err := MatVec(typ, 8192, false, XInt8, sh, Device{Subgroups: true, SubgroupMaxSize: 32})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(src, "//@") || strings.Contains(src, "k#H") || strings.Contains(src, "[#A]") {
				t.Errorf("%s unit %d: unexpanded markers", typ, c.unit)
			}
			if want := fmt.Sprintf("const SPAN: u32 = %du;", c.span); !strings.Contains(src, want) {
				t.Errorf("%s unit %d lacks %q", typ, c.unit, want)
			}
			if want := fmt.Sprintf("const PF: u32 = %du;", b2i(c.span == 1)); !strings.Contains(src, want) {
				t.Errorf("%s unit %d lacks %q", typ, c.unit, want)
			}
			if c.span == 1 {
				if !strings.Contains(src, "scales2(w.h.yzw, ") {
					t.Errorf("%s unit 64 is not the per-group kernel", typ)
				}
				continue
			}
			if n := strings.Count(src, "sd += k"); n != c.span {
				t.Errorf("%s unit %d: %d groups in unit_dot, want %d", typ, c.unit, n, c.span)
			}
			if n := strings.Count(src, "= half_scales("); n != c.halves {
				t.Errorf("%s unit %d: %d scale decodes, want %d", typ, c.unit, n, c.halves)
			}
			if want := fmt.Sprintf("m_%d: vec4<f32>", c.span-1); !strings.Contains(src, want) {
				t.Errorf("%s unit %d lacks %q", typ, c.unit, want)
			}
			for k, loop := range map[BatchKernel]string{BatchRows: "u < P.units / SPAN", BatchTile: "let units = P.units / SPAN;"} {
				b, err := MatVecBatch(typ, 8192, false, XInt8, DefaultBatchShape(sh, k), Device{})
				if err != nil || !strings.Contains(b, loop) || strings.Count(b, "sd += k") != c.span {
					t.Errorf("%s unit %d batched (%v): %v", typ, c.unit, k, err)
				}
			}
		}
	}
	// The other modes and types keep one unit.
	KUnit = 256
	for _, c := range []struct {
		typ kernels.DType
		m   XMode
	}{{kernels.Q4_K, XPlanar}, {kernels.Q4_K, XDirect}, {kernels.Q6_K, XInt8}, {kernels.Q4_0, XInt8}} {
		src, err := MatVec(c.typ, 8192, Split(c.typ, 8192), c.m, MatVecShape{WG: 64, TPR: 32, RT: 4}, Device{})
		if err != nil || !strings.Contains(src, "const SPAN: u32 = 1u;") {
			t.Errorf("%s %v: SPAN not 1 (%v)", c.typ, c.m, err)
		}
	}
	KUnit = 96
	if _, err := MatVec(kernels.Q5_K, 8192, false, XInt8, MatVecShape{WG: 64, TPR: 32, RT: 4}, Device{}); !errors.Is(err, ErrKUnit) {
		t.Errorf("a unit of 96: %v", err)
	}
}
