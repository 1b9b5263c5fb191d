package link

import (
	"syscall/js"

	"github.com/pion/webrtc/v4"
)

// onMessage hands each message of dc to fn in order. pion's OnMessage in a
// browser starts a goroutine per message, which the scheduler may run out
// of order, and copies each message into Go memory first; this reads them
// in the event handler itself, and the Reassembler copies each once.
func onMessage(dc *webrtc.DataChannel, fn func(Received)) {
	v := dc.JSValue()
	v.Set("binaryType", "arraybuffer")
	v.Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		data := args[0].Get("data")
		if data.Type() == js.TypeString {
			return nil
		}
		fn(received(data))
		return nil
	}))
}

// rtcBuffers are the data channels' send buffers.
var rtcBuffers frameBuffers

// sendFrame writes f once into a reused JavaScript buffer and sends it
// over dc (RTCDataChannel.send copies it into the channel's queue).
func sendFrame(dc *webrtc.DataChannel, f *Frame) error {
	v := dc.JSValue()
	return rtcBuffers.write(f, nil, func(u js.Value) error { return call(v, "send", u) })
}
