package planner

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors about input wrap one of the first three; a plan
// that cannot fit is an *InfeasibleError, which wraps ErrInfeasible.
var (
	ErrModel      = errors.New("bad model")
	ErrDevice     = errors.New("bad device")
	ErrOptions    = errors.New("bad planner options")
	ErrInfeasible = errors.New("does not fit")
)

// InfeasibleError says why no plan fits and what would make one fit.
type InfeasibleError struct {
	Model   string
	Devices int
	// Reason is what did not fit, in words.
	Reason string
	// NeedBytes is a lower bound on the memory a plan needs: every weight
	// and KV byte plus one stage's activation buffers.
	NeedBytes int64
	// HaveBytes is the devices' memory budgets together.
	HaveBytes int64
	// ShortBytes is what the fleet lacks: the weights and KV cache of what
	// found no room when the devices, in order, are filled as far as they go.
	ShortBytes int64
	// PlacedBlocks is how many blocks the devices hold at most, in order.
	PlacedBlocks int
	// MoreDevices devices of MoreDeviceBytes each, added at the end of the
	// fleet, would make it fit; 0 when no number of them would.
	MoreDevices     int
	MoreDeviceBytes int64
	// Standby is the standbys per stage asked for: the MoreDevices make
	// the stages fit; standbys need room of their own.
	Standby int
	// MaxContext is the longest context that fits; 0 when none does.
	MaxContext int
	// MaxSessions is the most sessions (below the number asked for) whose
	// KV caches fit at the asked context; 0 when none does or one was
	// asked for.
	MaxSessions int
	// WeightBytes is the model's weights, for a fewer-bits suggestion.
	WeightBytes int64
	// Hints are further suggestions, e.g. a quantization policy that fits.
	Hints []string
}

func (e *InfeasibleError) Unwrap() error { return ErrInfeasible }

// Error is one line: what does not fit, by how much, and what would fit.
func (e *InfeasibleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s does not fit on %d device(s): %s", e.Model, e.Devices, e.Reason)
	if e.ShortBytes > 0 {
		fmt.Fprintf(&b, "; short by %s (%d bytes)", FormatBytes(e.ShortBytes), e.ShortBytes)
	}
	if e.NeedBytes > 0 {
		fmt.Fprintf(&b, "; needs at least %s, the devices offer %s", FormatBytes(e.NeedBytes), FormatBytes(e.HaveBytes))
	}
	if fixes := e.Fixes(); len(fixes) > 0 {
		b.WriteString(". It would fit with " + strings.Join(fixes, ", or "))
	}
	return b.String()
}

// Fixes lists what would make the plan fit, most specific first.
func (e *InfeasibleError) Fixes() []string {
	var out []string
	if e.MoreDevices > 0 {
		more := fmt.Sprintf("%d more device(s) of %s", e.MoreDevices, FormatBytes(e.MoreDeviceBytes))
		if e.Standby > 0 {
			more += fmt.Sprintf(", plus room for %d standby(s) per stage", e.Standby)
		}
		out = append(out, more)
	}
	if e.MaxSessions > 0 {
		out = append(out, fmt.Sprintf("at most %d concurrent sessions", e.MaxSessions))
	}
	if e.MaxContext > 0 {
		out = append(out, fmt.Sprintf("a context of at most %d positions", e.MaxContext))
	}
	out = append(out, e.Hints...)
	if e.ShortBytes > 0 && e.WeightBytes > 0 && len(e.Hints) == 0 {
		out = append(out, fmt.Sprintf("fewer bits per weight (the weights, %s, must shrink by %s)", FormatBytes(e.WeightBytes), FormatBytes(e.ShortBytes)))
	}
	return out
}

// FormatBytes writes n in binary units: "3.71 GiB", "512 B".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.2f %s", v, units[i])
}
