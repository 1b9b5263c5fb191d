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
	d := wsDialer{ctx: context.Background(), urls: []string{"ws://a:1", "ws://b:2", "ws://c:3"}, tcp: []string{"ignored:4222"},
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
	// A WebSocket listener the servers gossiped after the tab read the
	// join info is tried first; the TCP address nats.go starts with is not
	// a WebSocket.
	info := joinInfo{NATSURL: "nats://a:4222", NATSURLs: []string{"nats://a:4222", "nats://b:4222"}, NATSWSURLs: d.urls}
	d.tcp = info.tcpAddrs()
	if got := d.candidates("d:4"); !slices.Equal(got, []string{"ws://d:4", "ws://a:1", "ws://b:2", "ws://c:3"}) {
		t.Errorf("candidates of a gossiped address: %v", got)
	}
	for _, addr := range []string{"a:4222", "b:2", ""} {
		if got := d.candidates(addr); !slices.Equal(got, d.urls) {
			t.Errorf("candidates(%q) = %v", addr, got)
		}
	}
	if got := (joinInfo{NATSWSURL: "ws://a:1"}).webSocketURLs(); !slices.Equal(got, []string{"ws://a:1"}) {
		t.Errorf("a coordinator without nats_ws_urls: %v", got)
	}
}
