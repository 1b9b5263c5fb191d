package coordinator

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// TestPlanKVType: the plans the leader makes give the configured KV cache
// type (F32 unless told), which the workers then allocate, and the
// configured activation type (F32 unless told), which they send; an
// unknown type is a configuration error.
func TestPlanKVType(t *testing.T) {
	devices := func() []*tabshardv1.Device {
		caps := &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_CPU, MemoryBudgetBytes: 1 << 30}
		return []*tabshardv1.Device{{Id: "w1", Capabilities: caps}, {Id: "w2", Capabilities: caps}}
	}
	for _, c := range []struct {
		typ  kernels.DType
		want tabshardv1.DType
	}{
		{kernels.F32, tabshardv1.DType_D_TYPE_F32},
		{kernels.F16, tabshardv1.DType_D_TYPE_F16},
	} {
		cfg := DefaultConfig()
		cfg.KVType, cfg.Stages = c.typ, 2
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		co := &Coordinator{cfg: cfg}
		if err := co.openModel(context.Background()); err != nil {
			t.Fatal(err)
		}
		plan, err := co.placement().Plan(devices())
		if err != nil {
			t.Fatal(err)
		}
		if plan.GetKvType() != c.want {
			t.Errorf("KV type %s: the plan says %s", c.typ, plan.GetKvType())
		}
		// The activation type follows the same road.
		cfg.ActivationType = c.typ
		co = &Coordinator{cfg: cfg}
		if err := co.openModel(context.Background()); err != nil {
			t.Fatal(err)
		}
		if plan, err = co.placement().Plan(devices()); err != nil {
			t.Fatal(err)
		}
		if plan.GetActivationType() != c.want {
			t.Errorf("activation type %s: the plan says %s", c.typ, plan.GetActivationType())
		}
	}
	cfg := DefaultConfig()
	cfg.ActivationType = kernels.Q8_0
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "activation type Q8_0") {
		t.Errorf("Validate() with Q8_0 activations: %v", err)
	}
	cfg = DefaultConfig()
	cfg.KVType = kernels.Q4_K
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "KV cache type Q4_K") {
		t.Errorf("Validate() with a Q4_K KV cache: %v", err)
	}
}
