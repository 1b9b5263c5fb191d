package planner

import (
	"fmt"
	"strings"
	"text/tabwriter"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// sessionsText says how many sessions' KV caches the plan holds, when more
// than one.
func sessionsText(n uint32) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" × %d sessions", n)
}

// Table renders a plan for people: a header line, one row per stage, the
// tensor splits, the notes and a summary line.
func Table(plan *tabshardv1.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d blocks on %d of %d devices; context %d%s, KV %s%s, prefill batch %d%s\n",
		plan.GetModel(), plan.GetBlockCount(), len(plan.GetStages()), len(plan.GetStages())+len(plan.GetUnusedDeviceIds()),
		plan.GetContextLength(), sessionsText(plan.GetMaxSessions()), kvName(plan.GetKvType()), windowText(plan.GetSlidingWindow()), plan.GetPrefillBatch(),
		activationText(plan.GetActivationType()))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "STAGE\tLAYERS\tDEVICE\tWEIGHTS\tKV\tPEAK\tBUDGET\tBINDING\tMS/TOKEN\tSTANDBY")
	for _, st := range plan.GetStages() {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%s\n", st.GetIndex(), layersText(st), st.GetDeviceId(),
			FormatBytes(int64(st.GetWeightBytes())), FormatBytes(int64(st.GetKvBytes())), FormatBytes(int64(st.GetPeakBytes())),
			FormatBytes(int64(st.GetMemoryBudgetBytes())), bindingText(st), st.GetPredictedMsPerToken(), standbyText(st))
	}
	w.Flush()
	for _, line := range splitLines(plan) {
		fmt.Fprintf(&b, "split: %s\n", line)
	}
	for _, n := range plan.GetNotes() {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if len(plan.GetUnusedDeviceIds()) > 0 {
		fmt.Fprintf(&b, "unused: %s\n", strings.Join(plan.GetUnusedDeviceIds(), ", "))
	}
	b.WriteString(Summary(plan) + "\n")
	return b.String()
}

// Summary is the plan in one line: weights, bottleneck and rates.
func Summary(plan *tabshardv1.Plan) string {
	bn := plan.GetStages()[plan.GetBottleneckStage()]
	return fmt.Sprintf("total: %d bytes of weights (%s), KV %s, peak %s; bottleneck stage %d at %.3f ms/token: %.1f tokens/s pipelined, %.1f tokens/s for one stream",
		plan.GetTotalWeightBytes(), FormatBytes(int64(plan.GetTotalWeightBytes())), FormatBytes(int64(plan.GetTotalKvBytes())),
		FormatBytes(int64(plan.GetTotalPeakBytes())), bn.GetIndex(), bn.GetPredictedMsPerToken(),
		plan.GetPredictedTokensPerSecond(), 1000/plan.GetPredictedLatencyMsPerToken())
}

// activationText names the activation type where it is not F32.
func activationText(t tabshardv1.DType) string {
	if t == tabshardv1.DType_D_TYPE_UNSPECIFIED || t == tabshardv1.DType_D_TYPE_F32 {
		return ""
	}
	return ", activations " + kvName(t)
}

func kvName(t tabshardv1.DType) string {
	return strings.TrimPrefix(t.String(), "D_TYPE_")
}

func windowText(w uint32) string {
	if w == 0 {
		return ""
	}
	return fmt.Sprintf(", sliding window %d", w)
}

// layersText is "[b,e)" with the embedding and head marked.
func layersText(st *tabshardv1.Stage) string {
	s := fmt.Sprintf("[%d,%d)", st.GetLayerBegin(), st.GetLayerEnd())
	if st.GetEmbedding() {
		s += " +embd"
	}
	if st.GetOutputHead() {
		s += " +head"
	}
	return s
}

func bindingText(st *tabshardv1.Stage) string {
	s := FormatBytes(int64(st.GetMaxBindingBytes()))
	if l := st.GetBindingLimitBytes(); l > 0 {
		s += " / " + FormatBytes(int64(l))
	}
	return s
}

func standbyText(st *tabshardv1.Stage) string {
	if len(st.GetStandbyDeviceIds()) == 0 {
		return "-"
	}
	return strings.Join(st.GetStandbyDeviceIds(), ",")
}

// splitLines describes the plan's splits, one line per kind of tensor
// and split: the same split of every block's ffn_up is one line, naming
// the stages it occurs in and how many tensors it covers.
func splitLines(plan *tabshardv1.Plan) []string {
	var keys []string
	stages := map[string][]uint32{}
	count := map[string]int{}
	for _, st := range plan.GetStages() {
		for _, sp := range st.GetSplits() {
			key := fmt.Sprintf("%s into %d chunks of %d rows (%s)", blockPattern(sp.GetTensor()), sp.GetChunks(), sp.GetRowsPerChunk(), FormatBytes(int64(sp.GetChunkBytes())))
			if count[key] == 0 {
				keys = append(keys, key)
			}
			if s := stages[key]; len(s) == 0 || s[len(s)-1] != st.GetIndex() {
				stages[key] = append(s, st.GetIndex())
			}
			count[key]++
		}
	}
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("%s: %s", stagesText(stages[k]), k)
		if n := count[k]; n > 1 {
			lines[i] += fmt.Sprintf(", %d tensors", n)
		}
	}
	return lines
}

// stagesText is "stage 3", "stages 0-15" or "stages 0, 2, 5".
func stagesText(s []uint32) string {
	if len(s) == 1 {
		return fmt.Sprintf("stage %d", s[0])
	}
	if int(s[len(s)-1]-s[0]) == len(s)-1 {
		return fmt.Sprintf("stages %d-%d", s[0], s[len(s)-1])
	}
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = fmt.Sprint(x)
	}
	return "stages " + strings.Join(parts, ", ")
}
