package planner

import (
	"math"

	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// Link speeds the planner assumes for each kind of link until the workers
// measure it (BENCHMARKS.md, "Hops in the browser" and "Failover and
// hops"): a hop between tabs of one browser over BroadcastChannel, between
// browsers over a WebRTC data channel, over NATS between native workers
// (TCP to the embedded server and on) and over NATS with a tab at either
// end (the tab's WebSocket to the server).
var (
	BroadcastChannelLink = Link{LatencyMs: 0.5, BandwidthBytesPerSecond: 1e9}
	WebRTCLink           = Link{LatencyMs: 2, BandwidthBytesPerSecond: 100e6}
	NATSLink             = Link{LatencyMs: 0.1, BandwidthBytesPerSecond: 1e9}
	NATSWebSocketLink    = Link{LatencyMs: 2.5, BandwidthBytesPerSecond: 100e6}
)

// Bounds of a latency a worker reports. Workers are not trusted: a
// measurement counts only within [the link's assumed latency ÷
// measuredFloorDivisor, MaxMeasuredLatencyMs], so no worker can make its
// links look faster than ten times the link's usual speed (to draw stages
// to itself) or push a hop's cost past a second.
const (
	measuredFloorDivisor = 10
	MaxMeasuredLatencyMs = 1000
)

// LinkSpeed is the assumed speed of a hop over link between workers with
// capabilities from and to.
func LinkSpeed(link tabshardv1.Link, from, to *tabshardv1.Capabilities) Link {
	switch link {
	case tabshardv1.Link_LINK_BROADCAST_CHANNEL:
		return BroadcastChannelLink
	case tabshardv1.Link_LINK_WEBRTC:
		return WebRTCLink
	}
	if isTab(from) || isTab(to) {
		return NATSWebSocketLink
	}
	return NATSLink
}

// isTab reports whether c is a browser tab's (it names its browser).
func isTab(c *tabshardv1.Capabilities) bool { return c.GetBrowserId() != "" }

// MeasuredLatencyMs bounds a reported latency for assumed (the link's
// assumed speed): what the planner uses; a value that is not a number, not
// positive or absent (0) gives the assumed latency.
func MeasuredLatencyMs(assumed Link, reported float64) float64 {
	if math.IsNaN(reported) || reported <= 0 {
		return assumed.LatencyMs
	}
	return min(max(reported, assumed.LatencyMs/measuredFloorDivisor), MaxMeasuredLatencyMs)
}

// LinkPicker names the link the leader will use between two workers (the
// coordinator's state.HopLink).
type LinkPicker func(from, to *tabshardv1.Capabilities) tabshardv1.Link

// LatencyReports gives the latency worker from measured to worker to over
// link, in ms (0: none).
type LatencyReports func(from, to string, link tabshardv1.Link) float64

// WithLinks returns copies of devices (workers, by id) with the links the
// plan's hops will take: between each pair, the link pick names, at its
// assumed speed, with the latency the two workers measured (the slower of
// their two reports, each bounded by MeasuredLatencyMs, so one worker
// alone cannot make a hop look faster than the other end saw it). Each
// device's default link — the sampled token into a first stage, which
// travels over NATS — is NATS from that device. Devices that already name
// links keep them.
func WithLinks(devices []*tabshardv1.Device, pick LinkPicker, reports LatencyReports) []*tabshardv1.Device {
	out := make([]*tabshardv1.Device, len(devices))
	for i, d := range devices {
		out[i] = proto.Clone(d).(*tabshardv1.Device)
	}
	for _, a := range out {
		if len(a.GetLinks()) > 0 {
			continue
		}
		ca := a.GetCapabilities()
		nats := LinkSpeed(tabshardv1.Link_LINK_NATS, ca, ca)
		a.Links = append(a.Links, &tabshardv1.DeviceLink{LatencyMs: nats.LatencyMs, BandwidthBytesPerSecond: nats.BandwidthBytesPerSecond})
		for _, b := range out {
			if b == a {
				continue
			}
			cb := b.GetCapabilities()
			kind := pick(ca, cb)
			speed := LinkSpeed(kind, ca, cb)
			if reports != nil {
				speed.LatencyMs = measured(speed, reports(a.GetId(), b.GetId(), kind), reports(b.GetId(), a.GetId(), kind))
			}
			a.Links = append(a.Links, &tabshardv1.DeviceLink{PeerDeviceId: b.GetId(), LatencyMs: speed.LatencyMs, BandwidthBytesPerSecond: speed.BandwidthBytesPerSecond})
		}
	}
	return out
}

// measured is a hop's latency from the reports of its two ends: the
// slower of the two when both reported, else the one, else the assumed.
func measured(assumed Link, there, back float64) float64 {
	valid := func(x float64) bool { return x > 0 && !math.IsNaN(x) }
	switch {
	case valid(there) && valid(back):
		return max(MeasuredLatencyMs(assumed, there), MeasuredLatencyMs(assumed, back))
	case valid(there):
		return MeasuredLatencyMs(assumed, there)
	}
	return MeasuredLatencyMs(assumed, back)
}
