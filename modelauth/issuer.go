package modelauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tabshard/tabshard/model/gguf"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// DefaultTTL is how long a grant lasts: long enough to load a stage, short
// enough that a leaked one soon stops working.
const DefaultTTL = 5 * time.Minute

// Issuer hands grants to workers: GET /api/model-grant?worker=<id>[&epoch=<n>] with
// "Authorization: Bearer <join token>" answers GrantReply for the stage
// the worker runs, or stands by for.
type Issuer struct {
	Signer    *Signer
	File      *gguf.File // the served model's header
	URL       string     // the model file on the model server; its last path element names it
	JoinToken string
	// Stage is the stage a worker needs now: the one it runs, else the
	// first it stands by for; ok is false for a worker with no role.
	Stage func(workerID string) (index int, r worker.Range, ok bool)
	// AwaitEpoch, when set, waits until this coordinator has applied the
	// plan of an epoch a worker names (?epoch=): one that lags the leader
	// would sign a grant for the worker's stage of before.
	AwaitEpoch func(ctx context.Context, epoch uint64) error
	TTL        time.Duration // 0 means DefaultTTL
	Now        func() time.Time
}

// GrantReply is the answer of /api/model-grant.
type GrantReply struct {
	URL     string     `json:"url"`   // the model file's address with ?grant=
	Grant   string     `json:"grant"` // the token alone
	Stage   int        `json:"stage"`
	Ranges  [][2]int64 `json:"ranges"` // [start, end) pairs
	Expires int64      `json:"expires_unix_ms"`
}

// FileName is the name grants carry: the last element of u's path.
func FileName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Path[strings.LastIndex(p.Path, "/")+1:]
}

func (is *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(token), []byte(is.JoinToken)) != 1 {
		writeError(w, http.StatusForbidden, fmt.Errorf("%w: wrong or missing join token (Authorization: Bearer <join token>)", ErrNotAllowed))
		return
	}
	id := r.URL.Query().Get("worker")
	if e, err := strconv.ParseUint(r.URL.Query().Get("epoch"), 10, 64); err == nil && is.AwaitEpoch != nil {
		_ = is.AwaitEpoch(r.Context(), e) // not there in time: answer with what is known
	}
	index, rng, ok := is.Stage(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w: worker %q has no stage in the current plan", ErrNotAllowed, id))
		return
	}
	reply := is.Issue(index, rng)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(reply)
}

// Issue signs a grant for stage index of range rng.
func (is *Issuer) Issue(index int, rng worker.Range) GrantReply {
	now, ttl := time.Now, is.TTL
	if is.Now != nil {
		now = is.Now
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	g := Grant{File: FileName(is.URL), Stage: index, Ranges: StageRanges(is.File, rng), Expires: now().Add(ttl).Truncate(time.Millisecond)}
	tok := is.Signer.Sign(g)
	reply := GrantReply{URL: WithGrant(is.URL, tok), Grant: tok, Stage: index, Expires: g.Expires.UnixMilli()}
	for _, r := range g.Ranges {
		reply.Ranges = append(reply.Ranges, [2]int64{r.Start, r.End})
	}
	return reply
}

// WithGrant adds ?grant=token to u.
func WithGrant(u, token string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Set("grant", token)
	p.RawQuery = q.Encode()
	return p.String()
}

// PlanStages is an Issuer.Stage over the plans plan returns: the stage a
// worker runs, else the first it stands by for (the one a standby loads).
func PlanStages(plan func() *tabshardv1.Plan) func(id string) (int, worker.Range, bool) {
	return func(id string) (int, worker.Range, bool) {
		p := plan()
		for _, s := range p.GetStages() {
			if s.GetDeviceId() == id {
				return stageRange(s)
			}
		}
		for _, s := range p.GetStages() {
			if slices.Contains(s.GetStandbyDeviceIds(), id) {
				return stageRange(s)
			}
		}
		return 0, worker.Range{}, false
	}
}

func stageRange(s *tabshardv1.Stage) (int, worker.Range, bool) {
	return int(s.GetIndex()), worker.Range{Begin: int(s.GetLayerBegin()), End: int(s.GetLayerEnd()), First: s.GetEmbedding(), Last: s.GetOutputHead()}, true
}
