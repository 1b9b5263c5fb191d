package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator/api"
	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// DefaultCredentialTTL is how long a worker's user JWT is valid; workers
// renew it at half its life.
const DefaultCredentialTTL = time.Hour

// admission admits workers and coordinators over the HTTP API (package
// api's Admission): the join token is checked here, against the replicated
// one, and never forwarded; a follower forwards only the checked request
// to the leader over a control subject.
type admission struct{ c *Coordinator }

// errRefused is a coordinator join the cluster refused (wrong token).
var errRefused = errors.New("refused")

func (a admission) refuse(what string) error {
	a.c.metrics.RejectedMessages.WithLabelValues("wrong join token").Inc()
	return fmt.Errorf("%w: %s: wrong join token", api.ErrJoinRefused, what)
}

// Join admits a worker through the leader and issues its credentials.
func (a admission) Join(ctx context.Context, token string, req *tabshardv1.JoinRequest) (*tabshardv1.JoinReply, error) {
	if !a.c.checkJoinToken(token) {
		return nil, a.refuse("join")
	}
	if err := bus.ValidUserKey(req.GetUserNkey()); err != nil {
		return nil, fmt.Errorf("%w: user_nkey: %v", api.ErrBadRequest, err)
	}
	reply, err := a.admitThroughLeader(ctx, req)
	if err != nil {
		return nil, err
	}
	return reply, a.c.issue(reply, req.GetUserNkey())
}

func (a admission) admitThroughLeader(ctx context.Context, req *tabshardv1.JoinRequest) (*tabshardv1.JoinReply, error) {
	var reply *tabshardv1.JoinReply
	if l := a.c.currentLeader(); l != nil {
		reply = l.admit(ctx, req)
		if reply.GetError() == "" {
			l.replanAndAnnounce(ctx)
		}
	} else {
		reply = &tabshardv1.JoinReply{}
		if err := bus.Request(ctx, a.c.nc, a.c.subj.Join(), req, reply); err != nil {
			return nil, fmt.Errorf("%w: no leader answered: %v", api.ErrUnavailable, err)
		}
	}
	if reply.GetError() != "" {
		return nil, fmt.Errorf("%w: %s", api.ErrUnavailable, reply.GetError())
	}
	return reply, nil
}

// issue puts into reply the worker's user JWT for userKey, its inbox
// prefix and the JWT's expiry.
func (c *Coordinator) issue(reply *tabshardv1.JoinReply, userKey string) error {
	expires := c.cfg.Clock.Now().Add(c.cfg.CredentialTTL)
	userJWT, err := c.account.Worker(c.subj, reply.GetWorkerId(), userKey, expires)
	if err != nil {
		return err
	}
	reply.UserJwt, reply.InboxPrefix, reply.ExpiresUnixMs = userJWT, c.subj.InboxPrefix(reply.GetWorkerId()), expires.UnixMilli()
	return nil
}

// Renew issues a fresh JWT to an active member for the key it joined with.
func (a admission) Renew(ctx context.Context, token string, req *tabshardv1.RenewRequest) (*tabshardv1.JoinReply, error) {
	if !a.c.checkJoinToken(token) {
		return nil, a.refuse("renew")
	}
	m := state.Member(a.c.machine.State(), req.GetWorkerId())
	if m == nil || m.GetState() != tabshardv1.MemberState_MEMBER_STATE_ACTIVE || m.GetUserNkey() != req.GetUserNkey() {
		return nil, fmt.Errorf("%w: %q is not an active worker that joined with this key", api.ErrJoinRefused, req.GetWorkerId())
	}
	reply := &tabshardv1.JoinReply{WorkerId: m.GetWorkerId()}
	return reply, a.c.issue(reply, req.GetUserNkey())
}

// AddCoordinator adds a coordinator to the Raft cluster through the leader.
func (a admission) AddCoordinator(ctx context.Context, token string, req *tabshardv1.AddCoordinatorRequest) (*tabshardv1.AddCoordinatorReply, error) {
	if !a.c.checkJoinToken(token) {
		return nil, a.refuse("add coordinator")
	}
	if req.GetNodeId() == "" || req.GetRaftAddress() == "" {
		return nil, fmt.Errorf("%w: node_id and raft_address are required", api.ErrBadRequest)
	}
	reply := &tabshardv1.AddCoordinatorReply{}
	if l := a.c.currentLeader(); l != nil {
		reply = l.addCoordinator(ctx, req)
	} else if err := bus.Request(ctx, a.c.nc, a.c.subj.AddCoordinator(), req, reply); err != nil {
		return nil, fmt.Errorf("%w: no leader answered: %v", api.ErrUnavailable, err)
	}
	if reply.GetError() != "" {
		return nil, fmt.Errorf("%w: %s", api.ErrUnavailable, reply.GetError())
	}
	return reply, nil
}

// postAddCoordinator asks the coordinator at base (its HTTP URL) to add
// req's node, presenting token.
func postAddCoordinator(ctx context.Context, base, token string, req *tabshardv1.AddCoordinatorRequest) error {
	body, err := protojson.Marshal(req)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(rctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/api/coordinators", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Authorization", "Bearer "+token)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", errRefused, strings.TrimSpace(string(msg)))
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("POST /api/coordinators: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
