//go:build !js

package wasmworker

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

// TestWSDialerFailsOver: a tab whose coordinator's server is gone
// reconnects to the next server of the NATS cluster's WebSocket list.
func TestWSDialerFailsOver(t *testing.T) {
	var tried []string
	live := map[string]bool{"ws://b:2": true}
	d := wsDialer{ctx: context.Background(), urls: []string{"ws://a:1", "ws://b:2", "ws://c:3"},
		dial: func(_ context.Context, url string) (net.Conn, error) {
			tried = append(tried, url)
			if !live[url] {
				return nil, errors.New("refused " + url)
			}
			c, _ := net.Pipe()
			return c, nil
		}}
	conn, err := d.Dial("tcp", "ignored:4222")
	if err != nil || conn == nil || !slices.Equal(tried, []string{"ws://a:1", "ws://b:2"}) {
		t.Fatalf("Dial = %v, %v after trying %v", conn, err, tried)
	}
	conn.Close()
	live = nil
	if _, err := d.Dial("tcp", "ignored:4222"); err == nil || !strings.Contains(err.Error(), "refused ws://c:3") {
		t.Errorf("every server down: %v", err)
	}
	if got := (joinInfo{NATSWSURL: "ws://a:1"}).webSocketURLs(); !slices.Equal(got, []string{"ws://a:1"}) {
		t.Errorf("a coordinator without nats_ws_urls: %v", got)
	}
}
