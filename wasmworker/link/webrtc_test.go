//go:build !js

package link

import (
	"bytes"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/tabshard/tabshard/bus"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// loopbackPeers makes pion peer connections that gather candidates on
// loopback only and never multicast (no mDNS): no packet leaves the host.
func loopbackPeers(cfg webrtc.Configuration) (*webrtc.PeerConnection, error) {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(cfg)
}

func TestWebRTCLink(t *testing.T) {
	trust, err := bus.DeriveTrust(bytes.Repeat([]byte{7}, bus.SecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.StartServer(bus.ServerConfig{Trust: trust, DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	// Each side signals with the credentials its worker joined with: it
	// may publish only signals from itself and read only signals to it.
	conn := func(worker string) func() *nats.Conn {
		key, err := bus.NewUserKey()
		if err != nil {
			t.Fatal(err)
		}
		s := bus.Subjects{Cluster: "c"}
		userJWT, err := trust.Account().Worker(s, worker, key.PublicKey(), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		nc, err := srv.Connect(worker, bus.NewCredentials(key, userJWT).Option(), nats.CustomInboxPrefix(s.InboxPrefix(worker)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return func() *nats.Conn { return nc }
	}
	o := WebRTCOptions{NewPeerConnection: loopbackPeers}
	ta, tb := NewWebRTC("c", conn("w1"), o), NewWebRTC("c", conn("w2"), o)
	defer ta.Close()
	defer tb.Close()
	a, b := NewMux(nil, ta), NewMux(nil, tb)
	a.SetSelf("w1")
	b.SetSelf("w2")
	got := make(chan *tabshardv1.Activation, 4)
	b.Receive(func(x *tabshardv1.Activation) { got <- x })

	small := &tabshardv1.Activation{SessionId: "s", Stage: 1, TokenCount: 1, Payload: bytes.Repeat([]byte{1}, 16<<10)}
	a.SendVia("w2", tabshardv1.Link_LINK_WEBRTC, small) // no link yet: it starts connecting, NATS would carry this one
	deadline := time.Now().Add(20 * time.Second)
	for !ta.Reaches("w2") {
		if time.Now().After(deadline) {
			t.Fatalf("no data channel after 20s: state %q", ta.State("w2"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	big := &tabshardv1.Activation{SessionId: "s", Stage: 1, TokenCount: 512, Payload: bytes.Repeat([]byte{2, 3, 5}, 8<<20/3)}
	a.SendVia("w2", tabshardv1.Link_LINK_WEBRTC, small)
	a.SendVia("w2", tabshardv1.Link_LINK_WEBRTC, big)
	for i, want := range []*tabshardv1.Activation{small, big} {
		select {
		case x := <-got:
			if !bytes.Equal(x.GetPayload(), want.GetPayload()) {
				t.Errorf("message %d: %d payload bytes differ", i, len(x.GetPayload()))
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("message %d did not arrive", i)
		}
	}
	st := a.Stats()
	if len(st) != 1 || st[0].Kind != "webrtc" || st[0].State != "open" || st[0].Sent != 2 {
		t.Errorf("sender stats %+v", st)
	}
	if st := b.Stats(); len(st) != 1 || st[0].Recv != 2 || st[0].Refused != 0 {
		t.Errorf("receiver stats %+v", st)
	}
}
