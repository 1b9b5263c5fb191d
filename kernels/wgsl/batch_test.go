package wgsl

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

func TestAssembleBatch(t *testing.T) {
	for _, typ := range Types() {
		cols := 8192
		units, err := Units(typ, cols)
		if err != nil {
			t.Fatal(err)
		}
		split := Split(typ, cols)
		mode, err := ResolveXMode(typ, cols, split, XAuto)
		if err != nil {
			t.Fatal(err)
		}
		mv := DefaultMatVecShape(units, 8192, mode != XDirect)
		bs := DefaultBatchShape(mv)
		if bs.TPR != mv.TPR || bs.WG != mv.WG {
			t.Errorf("%s: batch shape %+v beside matvec %+v: invocations a row differ", typ, bs, mv)
		}
		for _, d := range []Device{{}, {Subgroups: true, SubgroupMaxSize: 32}} {
			src, err := MatVecBatch(typ, cols, split, mode, bs, d)
			if err != nil {
				t.Fatal(err)
			}
			last := fmt.Sprintf("a%d_%d", bs.RT-1, bs.CB-1)
			for _, want := range []string{"fn unit_dot", "fn load_x", "fn main", last, "const CB: u32 = 16u;"} {
				if !strings.Contains(src, want) {
					t.Errorf("%s batched matvec (%+v) lacks %q", typ, d, want)
				}
			}
			for _, bad := range []string{"BATCH_BODY", "SUBGROUP_ARGS", fmt.Sprintf("a%d_0", bs.RT)} {
				if strings.Contains(src, bad) {
					t.Errorf("%s batched matvec (%+v) has %q", typ, d, bad)
				}
			}
			if got := strings.Contains(src, "subgroupAdd"); got != d.usesSubgroups(bs.TPR) {
				t.Errorf("%s: subgroupAdd %v with %+v", typ, got, d)
			}
		}
	}
}

func TestBatchShapeLimits(t *testing.T) {
	for _, mv := range []MatVecShape{{WG: 64, TPR: 32, RT: 4}, {WG: 128, TPR: 64, RT: 8}, {WG: 64, TPR: 4, RT: 1}, {WG: 1024, TPR: 64, RT: 1}} {
		s := DefaultBatchShape(mv)
		if err := s.Validate(); err != nil {
			t.Errorf("default beside %+v: %v", mv, err)
		}
		if s.TPR != mv.TPR || s.CB < 1 {
			t.Errorf("default beside %+v: %+v", mv, s)
		}
	}
	for _, bad := range []BatchShape{
		{MatVecShape: MatVecShape{WG: 64, TPR: 32, RT: 4}, CB: 0},
		{MatVecShape: MatVecShape{WG: 64, TPR: 32, RT: 4}, CB: 33},
		{MatVecShape: MatVecShape{WG: 256, TPR: 32, RT: 4}, CB: 16}, // 64 KiB of workgroup memory
		{MatVecShape: MatVecShape{WG: 96, TPR: 32, RT: 1}, CB: 4},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
		if _, err := MatVecBatch(kernels.Q8_0, 8192, true, XAuto, bad, Device{}); err == nil {
			t.Errorf("MatVecBatch with %+v accepted", bad)
		}
	}
	if _, err := MatVecBatch(kernels.BF16, 32, false, XAuto, DefaultBatchShape(MatVecShape{WG: 64, TPR: 4, RT: 1}), Device{}); err == nil {
		t.Error("BF16 accepted")
	}
}
