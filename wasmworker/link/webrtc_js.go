package link

import (
	"syscall/js"

	"github.com/pion/webrtc/v4"
)

// onMessage hands each message of dc to fn in order. pion's OnMessage in a
// browser starts a goroutine per message, which the scheduler may run out
// of order; this reads them in the event handler itself.
func onMessage(dc *webrtc.DataChannel, fn func([]byte)) {
	v := dc.JSValue()
	v.Set("binaryType", "arraybuffer")
	v.Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		data := args[0].Get("data")
		if data.Type() == js.TypeString {
			return nil
		}
		u := js.Global().Get("Uint8Array").New(data)
		b := make([]byte, u.Get("byteLength").Int())
		js.CopyBytesToGo(b, u)
		fn(b)
		return nil
	}))
}
