package planner

import (
	"fmt"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// device is a tabshardv1.Device with its defaults resolved.
type device struct {
	id      string
	budget  int64
	backend tabshardv1.Backend
	// bandwidth is the matvec bandwidth in bytes per second.
	bandwidth float64
	// limit is min(maxStorageBufferBindingSize, maxBufferSize); 0: none.
	limit int64
	// class indexes the solver's limit classes.
	class int
	links map[string]Link
	// def is the default link; nil when the device reports none.
	def *Link
}

// msPerByte converts bytes read into milliseconds on d.
func (d *device) msPerByte() float64 { return 1000 / d.bandwidth }

// resolveDevices checks the devices and fills in defaults.
func resolveDevices(in []*tabshardv1.Device, o Options) ([]device, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: no devices", ErrDevice)
	}
	seen := map[string]bool{}
	out := make([]device, len(in))
	for i, pd := range in {
		d, err := resolveDevice(pd, o)
		if err != nil {
			return nil, fmt.Errorf("device %d: %w", i, err)
		}
		if seen[d.id] {
			return nil, fmt.Errorf("%w: device id %q appears twice", ErrDevice, d.id)
		}
		seen[d.id] = true
		out[i] = d
	}
	for _, d := range out {
		for peer := range d.links {
			if !seen[peer] || peer == d.id {
				return nil, fmt.Errorf("%w %q: link to unknown device %q", ErrDevice, d.id, peer)
			}
		}
	}
	return out, nil
}

func resolveDevice(pd *tabshardv1.Device, o Options) (device, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrDevice, pd.GetId(), fmt.Sprintf(format, args...))
	}
	c := pd.GetCapabilities()
	switch {
	case pd.GetId() == "":
		return device{}, fmt.Errorf("%w: a device has no id", ErrDevice)
	case c == nil:
		return device{}, bad("no capabilities")
	case c.GetMemoryBudgetBytes() == 0 || c.GetMemoryBudgetBytes() > 1<<60:
		return device{}, bad("memory budget %d bytes", c.GetMemoryBudgetBytes())
	case !finite(c.GetMatvecBandwidthBytesPerSecond()) || c.GetMatvecBandwidthBytesPerSecond() < 0:
		return device{}, bad("matvec bandwidth %g B/s", c.GetMatvecBandwidthBytesPerSecond())
	}
	d := device{id: pd.GetId(), budget: int64(c.GetMemoryBudgetBytes()), backend: c.GetBackend(), bandwidth: c.GetMatvecBandwidthBytesPerSecond()}
	if d.backend == tabshardv1.Backend_BACKEND_UNSPECIFIED {
		d.backend = tabshardv1.Backend_BACKEND_WEBGPU
	}
	if d.bandwidth == 0 {
		d.bandwidth = o.WebGPUBandwidth
		if d.backend == tabshardv1.Backend_BACKEND_CPU {
			d.bandwidth = o.CPUBandwidth
		}
	}
	d.limit = bindingLimit(d.backend, c.GetLimits())
	return d, resolveLinks(&d, pd.GetLinks(), o, bad)
}

// bindingLimit is the largest buffer a device can bind. WebGPU devices
// that report no limit get WebGPU's defaults; CPU devices have none
// unless they report one.
func bindingLimit(b tabshardv1.Backend, l *tabshardv1.WebGPULimits) int64 {
	buf, bind := l.GetMaxBufferSize(), l.GetMaxStorageBufferBindingSize()
	if b == tabshardv1.Backend_BACKEND_WEBGPU {
		if buf == 0 {
			buf = DefaultMaxBufferSize
		}
		if bind == 0 {
			bind = DefaultMaxBindingSize
		}
	}
	switch {
	case buf == 0:
		return int64(min(bind, 1<<62))
	case bind == 0:
		return int64(min(buf, 1<<62))
	}
	return int64(min(buf, bind, 1<<62))
}

func resolveLinks(d *device, links []*tabshardv1.DeviceLink, o Options, bad func(string, ...any) error) error {
	d.links = make(map[string]Link, len(links))
	for _, l := range links {
		lat, bw := l.GetLatencyMs(), l.GetBandwidthBytesPerSecond()
		if !finite(lat) || lat < 0 || !finite(bw) || bw < 0 {
			return bad("link to %q: latency %g ms, bandwidth %g B/s", l.GetPeerDeviceId(), lat, bw)
		}
		if bw == 0 {
			bw = o.Link.BandwidthBytesPerSecond
		}
		link := Link{LatencyMs: lat, BandwidthBytesPerSecond: bw}
		if l.GetPeerDeviceId() == "" {
			d.def = &link
			continue
		}
		d.links[l.GetPeerDeviceId()] = link
	}
	return nil
}

// linkBetween is the link from a to b: one either names for the other,
// else the slower of their defaults, else the options' default.
func linkBetween(a, b *device, o Options) Link {
	if l, ok := a.links[b.id]; ok {
		return l
	}
	if l, ok := b.links[a.id]; ok {
		return l
	}
	switch {
	case a.def != nil && b.def != nil:
		return Link{max(a.def.LatencyMs, b.def.LatencyMs), min(a.def.BandwidthBytesPerSecond, b.def.BandwidthBytesPerSecond)}
	case a.def != nil:
		return *a.def
	case b.def != nil:
		return *b.def
	}
	return o.Link
}

// defaultLink is the link a device reaches an unnamed peer over.
func defaultLink(d *device, o Options) Link {
	if d.def != nil {
		return *d.def
	}
	return o.Link
}

// hopMs is the time to send n bytes over l.
func hopMs(l Link, n int64) float64 {
	return l.LatencyMs + float64(n)/l.BandwidthBytesPerSecond*1000
}
