package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestPlanTable(t *testing.T) {
	out, errOut, code := tabshard(t, "plan", "--model", "llama-3-70b:q4_k", "--devices", "12x4GiB", "--kv-type", "f16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"STAGE", "LAYERS", "DEVICE", "WEIGHTS", "KV", "PEAK", "BUDGET", "BINDING", "MS/TOKEN",
		"[0,7) +embd", "+head", "d11", "split: stage 11: output.weight into 5 chunks", "39690993664 bytes of weights", "tokens/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestPlanJSON reads the plan back both as plain JSON, by the proto field
// names the issue lists, and as a tabshard.v1.Plan.
func TestPlanJSON(t *testing.T) {
	out, errOut, code := tabshard(t, "plan", "--model", "llama-3-8b:q8_0", "--devices", "4x4GiB,1x2GiB", "--standby", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, key := range []string{"stages", "total_weight_bytes", "predicted_tokens_per_second", "bottleneck_stage"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("no %q at the top", key)
		}
	}
	first := doc["stages"].([]any)[0].(map[string]any)
	for _, key := range []string{"layer_begin", "layer_end", "device_id", "standby_device_ids", "weight_bytes", "kv_bytes",
		"peak_bytes", "memory_budget_bytes", "max_binding_bytes", "predicted_ms_per_token"} {
		if _, ok := first[key]; !ok {
			t.Errorf("no %q in a stage", key)
		}
	}
	var plan tabshardv1.Plan
	if err := protojson.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatal(err)
	}
	st := plan.GetStages()
	if st[0].LayerBegin != 0 || st[len(st)-1].LayerEnd != 32 || len(st[0].StandbyDeviceIds) != 1 {
		t.Fatalf("plan %v", &plan)
	}
}

func TestPlanFiles(t *testing.T) {
	model := modelFiles["v3"]
	for _, m := range []string{model, model + ":q8_0"} {
		out, errOut, code := tabshard(t, "plan", "--model", m, "--devices", "2x4MiB", "--context", "256")
		if code != 0 || !strings.Contains(out, "+head") {
			t.Fatalf("%s: exit %d %s\n%s", m, code, errOut, out)
		}
	}
	fleet := filepath.Join(t.TempDir(), "fleet.json")
	os.WriteFile(fleet, []byte(`{"devices": [
	  {"id": "tab", "capabilities": {"backend": "BACKEND_WEBGPU", "memory_budget_bytes": "1048576", "matvec_bandwidth_bytes_per_second": 5e10}},
	  {"id": "cpu", "capabilities": {"backend": "BACKEND_CPU", "memory_budget_bytes": "4194304"},
	   "links": [{"peer_device_id": "tab", "latency_ms": 0.2}]}]}`), 0o644)
	out, errOut, code := tabshard(t, "plan", "--model", model, "--devices", fleet)
	if code != 0 || !strings.Contains(out, "cpu") {
		t.Fatalf("JSON fleet: exit %d %s\n%s", code, errOut, out)
	}
}

// TestPlanInfeasible: Llama-3-70B at 4 bits on eight 4 GiB tabs does not
// fit, even with an f16 KV cache; the answer says by how much and what
// would fit.
func TestPlanInfeasible(t *testing.T) {
	out, errOut, code := tabshard(t, "plan", "--model", "llama-3-70b:q4_k", "--devices", "8x4GiB", "--kv-type", "f16")
	if code != 2 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{"does not fit on 8 device(s)", "short by 8.44 GiB (9059401728 bytes)", "3 more device(s) of 4.00 GiB", "--model llama-3-70b:q3_k"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	_, errOut, code = tabshard(t, "plan", "--model", "stories260k:f32", "--devices", "3x512KiB")
	if code != 2 || !strings.Contains(errOut, "a context of at most") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, errOut, code = tabshard(t, "plan", "--model", "llama-3-8b", "--devices", "2x8GiB", "--stages", "3")
	if code != 2 || !strings.Contains(errOut, "not in exactly 3 stage(s)") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestPlanSlidingWindow: a window caps the KV cache at window+63 positions.
func TestPlanSlidingWindow(t *testing.T) {
	kv := func(args ...string) string {
		out, errOut, code := tabshard(t, append([]string{"plan", "--model", "llama-3-8b:q4_k", "--devices", "2x8GiB", "--context", "8192", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var plan tabshardv1.Plan
		if err := protojson.Unmarshal([]byte(out), &plan); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(protojson.Format(&tabshardv1.Plan{TotalKvBytes: plan.TotalKvBytes}))
	}
	// 32 blocks × K and V × 8 KV heads × 128 × f32 = 262144 bytes a position.
	if got := kv(); !strings.Contains(got, `"2147483648"`) {
		t.Errorf("8192 positions: %s", got)
	}
	if got := kv("--kv-type", "f16"); !strings.Contains(got, `"1073741824"`) {
		t.Errorf("8192 positions, f16: %s", got)
	}
	if got := kv("--kv-type", "f16", "--sliding-window", "1024"); !strings.Contains(got, `"142475264"`) {
		t.Errorf("window 1024 (1087 positions): %s", got)
	}
	if got := kv("--kv-type", "q8_0"); !strings.Contains(got, `"570425344"`) {
		t.Errorf("q8_0: %s", got)
	}
}

func TestPlanBadInput(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown preset", []string{"--model", "llama-9-1t", "--devices", "8x4GiB"}, 2, "unknown model preset"},
		{"unknown policy", []string{"--model", "llama-3-8b:q5_z", "--devices", "8x4GiB"}, 2, "unknown policy"},
		{"unknown file policy", []string{"--model", modelFiles["v3"] + ":q5_z", "--devices", "8x4GiB"}, 2, "unknown policy"},
		{"missing file", []string{"--model", "/no/such/model.gguf", "--devices", "8x4GiB"}, 1, "no such file"},
		{"malformed spec", []string{"--model", "llama-3-8b", "--devices", "8y4GiB"}, 2, "unknown unit"},
		{"unknown option", []string{"--model", "llama-3-8b", "--devices", "8x4GiB:tpu"}, 2, "unknown option"},
		{"zero devices", []string{"--model", "llama-3-8b", "--devices", "0x4GiB"}, 2, "device count"},
		{"empty devices", []string{"--model", "llama-3-8b", "--devices", " "}, 2, "no devices"},
		{"negative size", []string{"--model", "llama-3-8b", "--devices", "4x-4GiB"}, 2, "negative"},
		{"negative context", []string{"--model", "llama-3-8b", "--devices", "4x4GiB", "--context", "-5"}, 2, "negative"},
		{"context too long", []string{"--model", "llama-3-8b", "--devices", "4x4GiB", "--context", "100000"}, 2, "longer than the model's 8192"},
		{"negative standby", []string{"--model", "llama-3-8b", "--devices", "4x4GiB", "--standby", "-1"}, 2, "standby"},
		{"bad kv type", []string{"--model", "llama-3-8b", "--devices", "4x4GiB", "--kv-type", "q4_k"}, 2, "KV type Q4_K"},
		{"no model", []string{"--devices", "4x4GiB"}, 2, "--model is required"},
		{"no devices", []string{"--model", "llama-3-8b"}, 2, "--devices is required"},
		{"stray argument", []string{"--model", "llama-3-8b", "--devices", "4x4GiB", "extra"}, 2, "unexpected argument"},
		{"unknown flag", []string{"--bogus"}, 2, "bogus"},
		{"bad fleet file", []string{"--model", "llama-3-8b", "--devices", writeFile(t, "bad.json", `{"devices": [{"id": 5}]}`)}, 2, "bad device"},
		{"missing fleet file", []string{"--model", "llama-3-8b", "--devices", "/no/such/fleet.json"}, 1, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := tabshard(t, append([]string{"plan"}, c.args...)...)
			if code != c.code || out != "" {
				t.Fatalf("exit %d, want %d; stdout %q; stderr %q", code, c.code, out, errOut)
			}
			if !strings.Contains(errOut, c.want) {
				t.Fatalf("stderr %q does not mention %q", errOut, c.want)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
