//go:build !js

package link

import "github.com/pion/webrtc/v4"

// onMessage hands each message of dc to fn, in order (pion's read loop).
func onMessage(dc *webrtc.DataChannel, fn func([]byte)) {
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if !m.IsString {
			fn(m.Data)
		}
	})
}
