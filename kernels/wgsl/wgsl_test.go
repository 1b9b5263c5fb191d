package wgsl

import (
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

func TestAssembleEveryType(t *testing.T) {
	for _, typ := range Types() {
		cols := 8192
		for _, d := range []Device{{}, {Subgroups: true, SubgroupMaxSize: 32}} {
			units, err := Units(typ, cols)
			if err != nil {
				t.Fatal(err)
			}
			src, err := MatVec(typ, cols, false, XDirect, DefaultMatVecShape(units, 8192, false), d)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"fn unit_dot", "fn load_x", "fn unit_load", "fn main", "acc7"} {
				if !strings.Contains(src, want) {
					t.Errorf("%s matvec lacks %q", typ, want)
				}
			}
			if strings.Contains(src, "//@") || strings.Contains(src, "SUBGROUP_") {
				t.Errorf("%s matvec has unexpanded markers", typ)
			}
			if got := strings.Contains(src, "enable subgroups;"); got != d.Subgroups {
				t.Errorf("%s: subgroups enabled %v with %+v", typ, got, d)
			}
		}
		split := Split(typ, cols)
		if _, err := MatMul(typ, cols, split); err != nil {
			t.Fatal(err)
		}
		if _, err := Embed(typ, cols, split); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRejects(t *testing.T) {
	for _, typ := range []kernels.DType{kernels.BF16} {
		if _, err := MatVec(typ, 256, false, XAuto, MatVecShape{WG: 64, TPR: 4, RT: 1}, Device{}); err == nil {
			t.Errorf("%s accepted", typ)
		}
	}
	if _, err := MatVec(kernels.Q4_K, 100, false, XAuto, MatVecShape{WG: 64, TPR: 4, RT: 1}, Device{}); err == nil {
		t.Error("a Q4_K row of 100 values accepted")
	}
	if err := (MatVecShape{WG: 96, TPR: 32, RT: 1}).Validate(); err == nil {
		t.Error("a workgroup of 96 accepted")
	}
}

func TestUnitsAndShapes(t *testing.T) {
	cases := []struct {
		typ   kernels.DType
		cols  int
		units int
	}{
		{kernels.F32, 172, 43}, {kernels.F32, 37, 37}, {kernels.F16, 64, 8}, {kernels.F16, 172, 172},
		{kernels.Q4_0, 8192, 256}, {kernels.Q8_0, 8192, 256}, {kernels.Q4_K, 8192, 128}, {kernels.Q6_K, 8192, 256},
		{kernels.Q5_K, 8192, 128}, {kernels.Q5_0, 8192, 256}, {kernels.Q5_1, 96, 3}, {kernels.Q4_1, 8192, 256},
		{kernels.IQ4_NL, 8192, 256}, {kernels.IQ4_XS, 8192, 256},
	}
	for _, c := range cases {
		u, err := Units(c.typ, c.cols)
		if err != nil || u != c.units {
			t.Errorf("Units(%s, %d) = %d, %v; want %d", c.typ, c.cols, u, err, c.units)
		}
		if err := DefaultMatVecShape(u, 8192, false).Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestUnroll(t *testing.T) {
	got := unroll("a\n  //@X v$ = $u;\nb", 3)
	want := "a\n  v0 = 0u;\n  v1 = 1u;\n  v2 = 2u;\nb"
	if got != want {
		t.Fatalf("unroll: %q, want %q", got, want)
	}
}
