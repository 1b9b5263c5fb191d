package planner_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tabshard/tabshard/coordinator/state"
	"github.com/tabshard/tabshard/planner"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// tabs are four workers of 4 GiB; browser[i] is worker i's browser ("":
// a native CPU worker), offering BroadcastChannel and WebRTC when links.
func tabs(browser []string, links bool) []*tabshardv1.Device {
	out := make([]*tabshardv1.Device, len(browser))
	for i, b := range browser {
		c := &tabshardv1.Capabilities{MemoryBudgetBytes: 4 << 30, BrowserId: b, Backend: tabshardv1.Backend_BACKEND_WEBGPU}
		if b == "" {
			c.Backend = tabshardv1.Backend_BACKEND_CPU
		}
		if links {
			c.Links = []tabshardv1.Link{tabshardv1.Link_LINK_BROADCAST_CHANNEL, tabshardv1.Link_LINK_WEBRTC}
		}
		out[i] = &tabshardv1.Device{Id: fmt.Sprintf("w%d", i), Capabilities: c}
	}
	return out
}

// hops plans the fleet in four stages and returns each stage's predicted
// hop (ms per token) and device, with the links the leader would pick.
func hops(t *testing.T, devices []*tabshardv1.Device, reports planner.LatencyReports) ([]float64, []string) {
	t.Helper()
	o := planner.DefaultOptions()
	o.Stages = 4
	plan, err := planner.Plan(presetModel(t, "llama-3-8b:q8_0"), planner.WithLinks(devices, state.HopLink, reports), o)
	if err != nil {
		t.Fatal(err)
	}
	var h []float64
	var ids []string
	for _, s := range plan.GetStages() {
		h = append(h, s.GetHopMsPerToken())
		ids = append(ids, s.GetDeviceId())
	}
	return h, ids
}

// near reports whether a hop costs the link's latency plus a decode
// step's activation (a few KiB) at its bandwidth.
func near(hop float64, l planner.Link) bool { return hop >= l.LatencyMs && hop < l.LatencyMs+0.2 }

// The predicted hop is the link the leader will pick: BroadcastChannel
// inside a browser, WebRTC across browsers, NATS over the tab's
// WebSocket without direct links, NATS over TCP between native workers.
func TestPlanHopIsTheLeadersLink(t *testing.T) {
	for name, c := range map[string]struct {
		browsers []string
		links    bool
		want     []planner.Link // stages 1..3's hops, in plan order
	}{
		"one browser":             {[]string{"A", "A", "A", "A"}, true, []planner.Link{planner.BroadcastChannelLink, planner.BroadcastChannelLink, planner.BroadcastChannelLink}},
		"two browsers":            {[]string{"A", "A", "B", "B"}, true, []planner.Link{planner.BroadcastChannelLink, planner.WebRTCLink, planner.BroadcastChannelLink}},
		"tabs without links":      {[]string{"A", "A", "B", "B"}, false, []planner.Link{planner.NATSWebSocketLink, planner.NATSWebSocketLink, planner.NATSWebSocketLink}},
		"native workers":          {[]string{"", "", "", ""}, false, []planner.Link{planner.NATSLink, planner.NATSLink, planner.NATSLink}},
		"a tab among native ones": {[]string{"", "", "A", ""}, false, []planner.Link{planner.NATSLink, planner.NATSWebSocketLink, planner.NATSWebSocketLink}},
	} {
		h, ids := hops(t, tabs(c.browsers, c.links), nil)
		if fmt.Sprint(ids) != "[w0 w1 w2 w3]" {
			t.Fatalf("%s: stages on %v, want the fleet's order", name, ids)
		}
		for i, want := range c.want {
			if !near(h[i+1], want) {
				t.Errorf("%s: stage %d's hop %.3f ms, want %.3f ms and its bytes", name, i+1, h[i+1], want.LatencyMs)
			}
		}
		if !near(h[0], planner.LinkSpeed(tabshardv1.Link_LINK_NATS, tabs(c.browsers, false)[0].GetCapabilities(), nil)) {
			t.Errorf("%s: stage 0's hop (the token, over NATS) %.3f ms", name, h[0])
		}
	}
}

// reported is a table of measured latencies, from → to → ms.
type reported map[string]map[string]float64

func (r reported) get(from, to string, _ tabshardv1.Link) float64 { return r[from][to] }

// Reported latencies move the predicted hop; a value past the bounds
// counts as the bound, one that is no latency counts as none, and the
// slower end's report wins.
func TestPlanHopFollowsReportedLatencies(t *testing.T) {
	fleet := tabs([]string{"A", "A", "B", "B"}, true)
	bc, rtc := planner.BroadcastChannelLink, planner.WebRTCLink
	for name, c := range map[string]struct {
		reports reported
		want    []float64 // stages 1..3's latency
	}{
		"none":                         {nil, []float64{bc.LatencyMs, rtc.LatencyMs, bc.LatencyMs}},
		"measured both ways":           {reported{"w1": {"w2": 0.9}, "w2": {"w1": 0.8}}, []float64{bc.LatencyMs, 0.9, bc.LatencyMs}},
		"measured one way":             {reported{"w0": {"w1": 0.3}}, []float64{0.3, rtc.LatencyMs, bc.LatencyMs}},
		"a slow link":                  {reported{"w2": {"w3": 40}}, []float64{bc.LatencyMs, rtc.LatencyMs, 40}},
		"absurdly fast":                {reported{"w1": {"w2": 1e-9}}, []float64{bc.LatencyMs, rtc.LatencyMs / 10, bc.LatencyMs}},
		"absurdly slow":                {reported{"w1": {"w2": 1e12}}, []float64{bc.LatencyMs, planner.MaxMeasuredLatencyMs, bc.LatencyMs}},
		"infinite":                     {reported{"w1": {"w2": math.Inf(1)}}, []float64{bc.LatencyMs, planner.MaxMeasuredLatencyMs, bc.LatencyMs}},
		"not a number":                 {reported{"w1": {"w2": math.NaN()}}, []float64{bc.LatencyMs, rtc.LatencyMs, bc.LatencyMs}},
		"negative":                     {reported{"w1": {"w2": -5}}, []float64{bc.LatencyMs, rtc.LatencyMs, bc.LatencyMs}},
		"a liar against an honest end": {reported{"w1": {"w2": 0.001}, "w2": {"w1": 3}}, []float64{bc.LatencyMs, 3, bc.LatencyMs}},
	} {
		h, ids := hops(t, fleet, c.reports.get)
		if fmt.Sprint(ids) != "[w0 w1 w2 w3]" {
			t.Fatalf("%s: stages on %v", name, ids)
		}
		for i, lat := range c.want {
			if h[i+1] < lat || h[i+1] > lat+0.2 {
				t.Errorf("%s: stage %d's hop %.4f ms, want %.4f ms and its bytes", name, i+1, h[i+1], lat)
			}
		}
	}
}

// WithLinks leaves the caller's devices alone and keeps links a device
// already names (a fleet file's measurements).
func TestWithLinksCopies(t *testing.T) {
	fleet := tabs([]string{"A", "A"}, true)
	fleet[1].Links = []*tabshardv1.DeviceLink{{PeerDeviceId: "w0", LatencyMs: 7}}
	out := planner.WithLinks(fleet, state.HopLink, nil)
	if len(fleet[0].GetLinks()) != 0 || len(fleet[1].GetLinks()) != 1 {
		t.Fatalf("the input changed: %v", fleet)
	}
	if len(out[0].GetLinks()) != 2 || len(out[1].GetLinks()) != 1 || out[1].GetLinks()[0].GetLatencyMs() != 7 {
		t.Errorf("links %v / %v", out[0].GetLinks(), out[1].GetLinks())
	}
}
