package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// maxGroupCount bounds N in "NxSIZE".
const maxGroupCount = 4096

// ParseDevices reads the compact fleet form: groups separated by commas,
// each "[N x] SIZE" followed by ":"-separated options —
//
//	8x4GiB                      eight WebGPU tabs of 4 GiB
//	4x8GiB,2x2GiB:cpu           four tabs, then two CPU workers
//	2x6GiB:bw=300GB/s:binding=1GiB:buffer=2GiB:lat=2ms:link=100MB/s
//
// Sizes take B, KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB. Options:
// "cpu" or "webgpu" (the default), "bw=RATE" (matvec bandwidth),
// "binding=SIZE" and "buffer=SIZE" (WebGPU limits, by default 128 MiB and
// 256 MiB; none on the CPU), "lat=Nms" and "link=RATE" (the devices'
// default link). Devices are named d0, d1, … in order.
func ParseDevices(spec string) ([]*tabshardv1.Device, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("%w: no devices in %q", ErrDevice, spec)
	}
	var out []*tabshardv1.Device
	for _, group := range strings.Split(spec, ",") {
		n, dev, err := parseGroup(strings.TrimSpace(group))
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrDevice, group, err)
		}
		for range n {
			d := proto.Clone(dev).(*tabshardv1.Device)
			d.Id = fmt.Sprintf("d%d", len(out))
			out = append(out, d)
		}
	}
	return out, nil
}

// parseGroup reads "[N x] SIZE {:OPTION}".
func parseGroup(g string) (int, *tabshardv1.Device, error) {
	fields := strings.Split(g, ":")
	n, size := 1, strings.TrimSpace(fields[0])
	if i := strings.IndexAny(size, "xX"); i >= 0 {
		c, err := strconv.Atoi(strings.TrimSpace(size[:i]))
		if err != nil || c < 1 || c > maxGroupCount {
			return 0, nil, fmt.Errorf("device count %q must be 1..%d", size[:i], maxGroupCount)
		}
		n, size = c, strings.TrimSpace(size[i+1:])
	}
	budget, err := ParseBytes(size)
	if err != nil {
		return 0, nil, err
	}
	if budget == 0 {
		return 0, nil, fmt.Errorf("memory size %q is zero", size)
	}
	d := &tabshardv1.Device{Capabilities: &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_WEBGPU, MemoryBudgetBytes: budget}}
	for _, opt := range fields[1:] {
		if err := applyOption(d, strings.TrimSpace(opt)); err != nil {
			return 0, nil, err
		}
	}
	return n, d, nil
}

// applyOption sets one ":"-option of a group.
func applyOption(d *tabshardv1.Device, opt string) error {
	c := d.Capabilities
	key, val, _ := strings.Cut(opt, "=")
	var err error
	switch strings.ToLower(key) {
	case "cpu":
		c.Backend = tabshardv1.Backend_BACKEND_CPU
	case "webgpu", "gpu":
		c.Backend = tabshardv1.Backend_BACKEND_WEBGPU
	case "bw":
		c.MatvecBandwidthBytesPerSecond, err = parseRate(val)
	case "binding":
		c.Limits = limitsOf(c)
		c.Limits.MaxStorageBufferBindingSize, err = parsePositiveBytes(val)
	case "buffer":
		c.Limits = limitsOf(c)
		c.Limits.MaxBufferSize, err = parsePositiveBytes(val)
	case "lat":
		err = setLink(d, func(l *tabshardv1.DeviceLink) (err error) { l.LatencyMs, err = parseMs(val); return })
	case "link":
		err = setLink(d, func(l *tabshardv1.DeviceLink) (err error) { l.BandwidthBytesPerSecond, err = parseRate(val); return })
	default:
		err = fmt.Errorf("unknown option %q (want cpu, webgpu, bw=, binding=, buffer=, lat=, link=)", opt)
	}
	return err
}

func limitsOf(c *tabshardv1.Capabilities) *tabshardv1.WebGPULimits {
	if c.Limits == nil {
		return &tabshardv1.WebGPULimits{}
	}
	return c.Limits
}

// setLink edits the device's default link, creating it with the
// planner's default latency when absent.
func setLink(d *tabshardv1.Device, f func(*tabshardv1.DeviceLink) error) error {
	if len(d.Links) == 0 {
		def := DefaultOptions().Link
		d.Links = []*tabshardv1.DeviceLink{{LatencyMs: def.LatencyMs}}
	}
	return f(d.Links[0])
}

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseBytes reads a size such as "4GiB", "512MiB", "1.5GB" or "4096".
func ParseBytes(s string) (uint64, error) {
	v, unit, err := splitNumber(s)
	if err != nil {
		return 0, err
	}
	mult, ok := byteUnits[strings.ToLower(unit)]
	switch {
	case !ok:
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, unit)
	case v < 0:
		return 0, fmt.Errorf("size %q is negative", s)
	case v*mult > 1<<60:
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return uint64(v * mult), nil
}

func parsePositiveBytes(s string) (uint64, error) {
	n, err := ParseBytes(s)
	if err == nil && n == 0 {
		err = fmt.Errorf("size %q is zero", s)
	}
	return n, err
}

// parseRate reads bytes per second: "200GB/s", "1.5GiB/s", "800MB/s".
func parseRate(s string) (float64, error) {
	size, ok := strings.CutSuffix(s, "/s")
	if !ok {
		return 0, fmt.Errorf("rate %q: want a size per second, e.g. 200GB/s", s)
	}
	n, err := parsePositiveBytes(size)
	return float64(n), err
}

// parseMs reads a latency: "2ms", "0.5ms", "300us".
func parseMs(s string) (float64, error) {
	v, unit, err := splitNumber(s)
	scale := map[string]float64{"ms": 1, "us": 1e-3, "µs": 1e-3, "s": 1e3}[strings.ToLower(unit)]
	switch {
	case err != nil:
		return 0, err
	case scale == 0:
		return 0, fmt.Errorf("latency %q: want ms, us or s", s)
	case v < 0:
		return 0, fmt.Errorf("latency %q is negative", s)
	}
	return v * scale, nil
}

// splitNumber splits "1.5GiB" into 1.5 and "GiB".
func splitNumber(s string) (float64, string, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789.+-", r) })
	if i < 0 {
		i = len(s)
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, "", fmt.Errorf("%q is not a number with a unit", s)
	}
	return v, strings.TrimSpace(s[i:]), nil
}

// ParseDevicesJSON reads devices as JSON in protobuf's JSON mapping:
// either a tabshard.v1.Fleet ({"devices": [...]}) or an array of
// tabshard.v1.Device.
func ParseDevicesJSON(data []byte) ([]*tabshardv1.Device, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDevice, err)
		}
		out := make([]*tabshardv1.Device, len(raw))
		for i, r := range raw {
			out[i] = &tabshardv1.Device{}
			if err := protojson.Unmarshal(r, out[i]); err != nil {
				return nil, fmt.Errorf("%w: device %d: %v", ErrDevice, i, err)
			}
		}
		return out, nil
	}
	var f tabshardv1.Fleet
	if err := protojson.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDevice, err)
	}
	return f.Devices, nil
}
