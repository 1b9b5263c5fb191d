package agent

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
	"google.golang.org/protobuf/proto"

	"github.com/tabshard/tabshard/bus"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// errUnavailable is a coordinator that cannot admit now (no leader yet);
// errUnreachable one that does not answer at all.
var (
	errUnavailable = errors.New("coordinator unavailable")
	errUnreachable = errors.New("coordinator unreachable")
)

// joinAttempts bounds the joins tried at a coordinator that does not
// answer: the caller (a supervisor) may know another one.
const joinAttempts = 8

// postJSON posts req as protojson to the coordinator's path with the join
// token as a bearer token, and decodes the answer into reply. A 401 is
// ErrRefused; a 503 errUnavailable.
func postJSON(ctx context.Context, cfg Config, path string, req, reply proto.Message) error {
	body, err := protojson.Marshal(req)
	if err != nil {
		return err
	}
	url := strings.TrimSuffix(cfg.Coordinator, "/") + path
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Authorization", "Bearer "+cfg.JoinToken)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := cfg.HTTP.Do(hreq)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errUnreachable, cfg.Coordinator, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: POST %s: %v", errUnavailable, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: POST %s: %s", ErrRefused, path, strings.TrimSpace(string(b)))
	case resp.StatusCode == http.StatusServiceUnavailable:
		return fmt.Errorf("%w: POST %s: %s", errUnavailable, path, strings.TrimSpace(string(b)))
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("coordinator %s: POST %s: %s: %s", cfg.Coordinator, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := protojson.Unmarshal(b, reply); err != nil {
		return fmt.Errorf("coordinator %s: POST %s: %w", cfg.Coordinator, path, err)
	}
	return nil
}

// join asks the coordinator, over its HTTP API, to admit the worker with
// its public key, retrying while no leader can (and, a few times, while the
// coordinator does not answer); the reply carries the worker's id and its
// user JWT.
func join(ctx context.Context, cfg Config, key *bus.UserKey) (*tabshardv1.JoinReply, error) {
	req := &tabshardv1.JoinRequest{Name: cfg.Name, Capabilities: cfg.Capabilities, UserNkey: key.PublicKey()}
	unreachable := 0
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		reply := &tabshardv1.JoinReply{}
		err := postJSON(rctx, cfg, "/api/join", req, reply)
		cancel()
		switch {
		case err == nil && reply.GetUserJwt() == "":
			return nil, fmt.Errorf("coordinator %s admitted the worker but issued no credentials", cfg.Coordinator)
		case err == nil:
			return reply, nil
		case errors.Is(err, ErrRefused):
			return nil, err
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, errUnreachable):
			if unreachable++; unreachable >= joinAttempts {
				return nil, err
			}
		case !errors.Is(err, errUnavailable):
			return nil, err
		}
		cfg.Logger.Debug("join not answered yet", "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// renewEvery keeps creds fresh: at half the life left of the JWT it holds
// (and then every minute while renewal fails), it asks for a new one. The
// connection presents the new JWT when it next connects; the server closes
// it when the old one expires, and it reconnects at once.
func renewEvery(ctx context.Context, cfg Config, id string, creds *bus.Credentials, expires time.Time) {
	for {
		wait := max(time.Until(expires)/2, time.Second)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		reply := &tabshardv1.JoinReply{}
		err := postJSON(ctx, cfg, "/api/join/renew", &tabshardv1.RenewRequest{WorkerId: id, UserNkey: creds.Key().PublicKey()}, reply)
		if err != nil {
			if ctx.Err() == nil {
				cfg.Logger.Warn("renewing bus credentials", "worker", id, "err", err)
			}
			expires = time.Now().Add(2 * time.Minute) // try again in a minute
			continue
		}
		creds.Renew(reply.GetUserJwt())
		cfg.Metrics.Renewals.Add(1)
		expires = time.UnixMilli(reply.GetExpiresUnixMs())
		cfg.Logger.Debug("bus credentials renewed", "worker", id, "expires", expires)
	}
}
