package wgsl

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
)

func TestAssembleBatch(t *testing.T) {
	for _, k := range []BatchKernel{BatchTile, BatchRows} {
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
			bs := DefaultBatchShape(mv, k)
			if bs.TPR != mv.TPR || bs.Kernel != k {
				t.Errorf("%v %s: batch shape %+v beside matvec %+v", k, typ, bs, mv)
			}
			if k == BatchRows && bs.WG != mv.WG {
				t.Errorf("%s: rows kernel shape %+v beside matvec %+v: workgroups differ", typ, bs, mv)
			}
			for _, d := range []Device{{}, {Subgroups: true, SubgroupMaxSize: 32, WorkgroupStorage: 48 << 10}} {
				src, err := MatVecBatch(typ, cols, split, mode, bs, d)
				if err != nil {
					t.Fatal(err)
				}
				last := fmt.Sprintf("a%d_%d", bs.RT-1, bs.CB-1)
				for _, want := range []string{"fn unit_dot", "fn load_x", "fn main", last, fmt.Sprintf("const CB: u32 = %du;", bs.CB)} {
					if !strings.Contains(src, want) {
						t.Errorf("%v %s batched matvec (%+v) lacks %q", k, typ, d, want)
					}
				}
				for _, bad := range []string{"BATCH_BODY", "TILE_BODY", "TILE_STAGE", "SUBGROUP_ARGS", fmt.Sprintf("a%d_0", bs.RT)} {
					if strings.Contains(src, bad) {
						t.Errorf("%v %s batched matvec (%+v) has %q", k, typ, d, bad)
					}
				}
				if got := strings.Contains(src, "subgroupAdd"); got != d.usesSubgroups(bs.TPR) {
					t.Errorf("%v %s: subgroupAdd %v with %+v", k, typ, got, d)
				}
				staged := strings.Contains(src, "var<workgroup> xs")
				if want := k == BatchTile && mode != XDirect; staged != want {
					t.Errorf("%v %s (%v): x staged %v, want %v", k, typ, mode, staged, want)
				}
			}
		}
	}
}

// TestPlanTile: the tile kernel's workgroup memory (x staged, reduction)
// fits the device's, x in as few chunks of columns as fit, and a shape
// whose reduction alone does not fit is refused.
func TestPlanTile(t *testing.T) {
	s := BatchShape{MatVecShape: MatVecShape{WG: 256, TPR: 32, RT: 4}, CB: 16}
	for _, c := range []struct {
		xu, budget int
		sg         bool
		want       tilePlan
	}{
		{80, 48 << 10, true, tilePlan{cs: 16, rc: 8, red: 64 * 4 * 8}}, // Q4_0 int8 on an H100: one chunk
		{144, 48 << 10, true, tilePlan{cs: 8, rc: 8, red: 64 * 4 * 8}}, // Q4_K int8: two chunks
		{80, 16 << 10, true, tilePlan{cs: 4, rc: 4, red: 64 * 4 * 4}},
		{80, 16 << 10, false, tilePlan{cs: 4, rc: 1, red: 256 * 4}},    // staging first
		{0, 16 << 10, true, tilePlan{cs: 0, rc: 16, red: 64 * 4 * 16}}, // x read directly
	} {
		got, err := planTile(s, c.xu, c.sg, c.budget)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("xu %d, %d bytes, subgroups %v: %+v, want %+v", c.xu, c.budget, c.sg, got, c.want)
		}
		if used := got.cs*s.TPR*c.xu + 4*got.red; used > c.budget {
			t.Errorf("xu %d: %d bytes used of %d", c.xu, used, c.budget)
		}
	}
	s.NoStage = true
	if got, _ := planTile(s, 80, true, 48<<10); got.cs != 0 {
		t.Errorf("NoStage: %+v", got)
	}
	big := BatchShape{MatVecShape: MatVecShape{WG: 1024, TPR: 32, RT: 8}, CB: 4}
	if _, err := planTile(big, 80, false, 16<<10); !errors.Is(err, ErrUnsupported) {
		t.Errorf("WG 1024, RT 8 in 16 KiB: %v", err)
	}
	if _, err := MatVecBatch(kernels.Q4_0, 8192, true, XAuto, big, Device{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("MatVecBatch of WG 1024, RT 8 in 16 KiB: %v", err)
	}
}

func TestBatchShapeLimits(t *testing.T) {
	for _, k := range []BatchKernel{BatchTile, BatchRows} {
		for _, mv := range []MatVecShape{{WG: 64, TPR: 32, RT: 4}, {WG: 128, TPR: 64, RT: 8}, {WG: 64, TPR: 4, RT: 1}, {WG: 1024, TPR: 64, RT: 1}} {
			s := DefaultBatchShape(mv, k)
			if err := s.Validate(); err != nil {
				t.Errorf("%v default beside %+v: %v", k, mv, err)
			}
			if s.TPR != mv.TPR || s.CB < 1 {
				t.Errorf("%v default beside %+v: %+v", k, mv, s)
			}
		}
	}
	for _, bad := range []BatchShape{
		{MatVecShape: MatVecShape{WG: 64, TPR: 32, RT: 4}, CB: 0},
		{MatVecShape: MatVecShape{WG: 64, TPR: 32, RT: 4}, CB: 33},
		{MatVecShape: MatVecShape{WG: 256, TPR: 32, RT: 4}, CB: 16, Kernel: BatchRows}, // 64 KiB of workgroup memory
		{MatVecShape: MatVecShape{WG: 256, TPR: 32, RT: 8}, CB: 16},                    // 128 accumulators
		{MatVecShape: MatVecShape{WG: 96, TPR: 32, RT: 1}, CB: 4},
		{MatVecShape: MatVecShape{WG: 64, TPR: 32, RT: 1}, CB: 4, Kernel: 7},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
		if _, err := MatVecBatch(kernels.Q8_0, 8192, true, XAuto, bad, Device{}); err == nil {
			t.Errorf("MatVecBatch with %+v accepted", bad)
		}
	}
	for _, k := range []BatchKernel{BatchTile, BatchRows} {
		if _, err := MatVecBatch(kernels.BF16, 32, false, XAuto, DefaultBatchShape(MatVecShape{WG: 64, TPR: 4, RT: 1}, k), Device{}); err == nil {
			t.Errorf("%v: BF16 accepted", k)
		}
	}
}

func TestParseBatchKernel(t *testing.T) {
	for _, k := range []BatchKernel{BatchTile, BatchRows} {
		if got, err := ParseBatchKernel(k.String()); err != nil || got != k {
			t.Errorf("ParseBatchKernel(%q) = %v, %v", k.String(), got, err)
		}
	}
	if got, err := ParseBatchKernel(""); err != nil || got != BatchTile {
		t.Errorf(`ParseBatchKernel("") = %v, %v`, got, err)
	}
	if _, err := ParseBatchKernel("fast"); !errors.Is(err, ErrUnsupported) {
		t.Errorf(`ParseBatchKernel("fast"): %v`, err)
	}
}
