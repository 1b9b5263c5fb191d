//go:build !js

package link

import "github.com/pion/webrtc/v4"

// onMessage hands each message of dc to fn, in order (pion's read loop).
func onMessage(dc *webrtc.DataChannel, fn func(Received)) {
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if !m.IsString {
			fn(Bytes(m.Data))
		}
	})
}

// sendFrame sends f as one message of dc (pion's SCTP natively: it
// takes one buffer).
func sendFrame(dc *webrtc.DataChannel, f *Frame) error {
	return dc.Send(f.AppendTo(make([]byte, 0, f.Len())))
}
