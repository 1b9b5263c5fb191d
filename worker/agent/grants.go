package agent

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/tabshard/tabshard/modelauth"
)

// modelGrants gets a native worker the grants a guarded model server
// (modelauth.FileServer on another origin) wants: the worker's HTTP client
// goes through its ClientTransport, which asks the coordinator for a grant
// for the worker's stage and adds it to requests for the model file.
type modelGrants struct {
	transport           *modelauth.ClientTransport
	grantURL, joinToken string

	mu    sync.Mutex // never held across I/O: the worker's loop takes it
	id    string     // the worker id grants are asked for
	epoch uint64     // the newest epoch the worker has seen
}

// withModelGrants returns cfg with an HTTP client that adds grants, when
// the coordinator names a grant URL and cfg.HTTP does not add them itself.
func withModelGrants(cfg Config, info joinInfo) Config {
	if info.ModelGrantURL == "" || cfg.HTTPHasGrants {
		return cfg
	}
	g := &modelGrants{grantURL: info.ModelGrantURL, joinToken: cfg.JoinToken}
	next := cfg.HTTP.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	g.transport = &modelauth.ClientTransport{Next: next, Worker: g.workerID, Epoch: g.seenEpoch}
	client := *cfg.HTTP
	client.Transport = g.transport
	cfg.HTTP, cfg.grants = &client, g
	return cfg
}

func (g *modelGrants) workerID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.id
}

func (g *modelGrants) seenEpoch() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epoch
}

// atEpoch records the epoch whose plan a load follows: the coordinator
// signs the grant once it has applied that plan.
func (g *modelGrants) atEpoch(epoch uint64) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.epoch = epoch
	g.mu.Unlock()
}

// joined names the worker once the leader admitted it (again: a fenced
// worker rejoins under a new id).
func (g *modelGrants) joined(id string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.id, g.epoch = id, 0
	g.mu.Unlock()
}

// model points grants at the model file a load reads, dropping the grant
// held: a load follows a change of stage, which needs a grant of its own.
func (g *modelGrants) model(url string) {
	if g != nil {
		g.transport.Configure(url, g.grantURL, g.joinToken)
	}
}

// explainRefusal adds the likely cause to a model server's refusal: a
// worker without grants whose coordinator issues none, or a grant that
// expired on arrival (the transport had just renewed it).
func (c *Config) explainRefusal(err error) error {
	switch {
	case c.grants == nil && !c.HTTPHasGrants && errors.Is(err, modelauth.ErrNoGrant):
		return fmt.Errorf("%w (the coordinator's /api/join names no model_grant_url: it needs --model-server and --model-key-file)", err)
	case c.grants != nil && errors.Is(err, modelauth.ErrExpired):
		return fmt.Errorf("%w (a grant just issued was refused as expired: the clocks of the coordinator and the model server disagree)", err)
	}
	return err
}
