package wasmworker

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ErrNoToken is a worker page opened without ?token=.
var ErrNoToken = errors.New("no join token in the page address: open /worker?token=<join token> (tabshard up prints it)")

// BackendChoice is the compute backend a page asks for.
type BackendChoice int

// Backends a page may ask for with ?backend=.
const (
	// BackendAuto uses WebGPU when the tab has it, else the CPU.
	BackendAuto BackendChoice = iota
	// BackendCPU forces the CPU fallback.
	BackendCPU
	// BackendGPU wants WebGPU and refuses to start without it.
	BackendGPU
)

func (b BackendChoice) String() string {
	switch b {
	case BackendCPU:
		return "cpu"
	case BackendGPU:
		return "webgpu"
	}
	return "auto"
}

// Params are what a worker tab reads from its page address:
// /worker?token=T[&name=N][&backend=auto|cpu|webgpu][&memory_mb=M].
type Params struct {
	// Origin is the page's scheme://host[:port]: the coordinator's HTTP
	// address.
	Origin  string
	Token   string
	Name    string
	Backend BackendChoice
	// MemoryBudget overrides the detected budget (bytes); 0 detects.
	MemoryBudget uint64
}

// ParseParams reads Params from a worker page's address.
func ParseParams(pageURL string) (Params, error) {
	u, err := url.Parse(pageURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Params{}, fmt.Errorf("page address %q: not an absolute URL", pageURL)
	}
	q := u.Query()
	p := Params{Origin: u.Scheme + "://" + u.Host, Token: strings.TrimSpace(q.Get("token")), Name: q.Get("name")}
	if p.Token == "" {
		return p, ErrNoToken
	}
	switch b := strings.ToLower(q.Get("backend")); b {
	case "", "auto":
	case "cpu":
		p.Backend = BackendCPU
	case "gpu", "webgpu":
		p.Backend = BackendGPU
	default:
		return p, fmt.Errorf("backend=%q: want auto, cpu or webgpu", b)
	}
	if mb := q.Get("memory_mb"); mb != "" {
		n, err := strconv.ParseUint(mb, 10, 32)
		if err != nil || n == 0 {
			return p, fmt.Errorf("memory_mb=%q: want a positive number of MiB", mb)
		}
		p.MemoryBudget = n << 20
	}
	return p, nil
}
