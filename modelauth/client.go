package modelauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// renewBefore renews a grant this long before it expires.
const renewBefore = 15 * time.Second

// ClientTransport is a worker's http.RoundTripper for a model server that
// wants grants: it adds the grant to requests for the model file, asks the
// coordinator for one when it has none or it is about to expire, and asks
// again, once, when the server refuses it (the worker moved to another
// stage, say). Other requests pass through. Configure it before use; the
// zero configuration passes everything through.
type ClientTransport struct {
	Next http.RoundTripper
	// Worker returns this worker's id, which grants are issued for.
	Worker func() string
	// Epoch, when set, is the newest plan epoch the worker knows: the
	// coordinator answers once it has applied that plan (Issuer.AwaitEpoch).
	Epoch func() uint64

	mu        sync.Mutex
	modelURL  string // requests to this address (any query) get a grant
	grantURL  string
	joinToken string
	token     string
	expires   time.Time
}

// Configure names the model file, where grants come from and the join
// token that asks for them; an empty grantURL turns grants off.
func (c *ClientTransport) Configure(modelURL, grantURL, joinToken string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.modelURL, c.grantURL, c.joinToken = withoutQuery(modelURL), grantURL, joinToken
	c.token = ""
}

func withoutQuery(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.RawQuery, p.Fragment = "", ""
	return p.String()
}

// RoundTrip implements http.RoundTripper.
func (c *ClientTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	guarded := c.grantURL != "" && withoutQuery(req.URL.String()) == c.modelURL
	c.mu.Unlock()
	if !guarded {
		return c.Next.RoundTrip(req)
	}
	for attempt := 0; ; attempt++ {
		token, err := c.grant(req, attempt > 0)
		if err != nil {
			return nil, err
		}
		r := req.Clone(req.Context())
		q := r.URL.Query()
		q.Set("grant", token)
		r.URL.RawQuery = q.Encode()
		resp, err := c.Next.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusForbidden || attempt > 0 {
			return resp, err
		}
		resp.Body.Close() // refused: renew the grant and try once more
	}
}

// grant returns a usable grant, asking for a new one when renew is set or
// the one it has is (about to be) expired.
func (c *ClientTransport) grant(req *http.Request, renew bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !renew && c.token != "" && time.Until(c.expires) > renewBefore {
		return c.token, nil
	}
	u, err := url.Parse(c.grantURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("worker", c.Worker())
	if c.Epoch != nil {
		if e := c.Epoch(); e > 0 {
			q.Set("epoch", strconv.FormatUint(e, 10))
		}
	}
	u.RawQuery = q.Encode()
	greq, err := http.NewRequestWithContext(req.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	greq.Header.Set("Authorization", "Bearer "+c.joinToken)
	resp, err := c.Next.RoundTrip(greq)
	if err != nil {
		return "", fmt.Errorf("model grant: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("model grant from %s: %w", c.grantURL, Refusal(resp))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var g GrantReply
	if err := json.Unmarshal(body, &g); err != nil || g.Grant == "" {
		return "", errors.Join(errors.New("model grant: malformed answer"), err)
	}
	c.token, c.expires = g.Grant, time.UnixMilli(g.Expires)
	return c.token, nil
}
