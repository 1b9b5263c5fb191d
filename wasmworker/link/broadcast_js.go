package link

import (
	"fmt"
	"sync"
	"syscall/js"
	"time"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// maxIDTrailer is the longest sender id a message's trailer carries (its
// length is one byte).
const maxIDTrailer = 255

// Presence timings of the BroadcastChannel transport.
const (
	helloEvery = time.Second
	helloTTL   = 3 * time.Second
)

// Broadcast is the BroadcastChannel transport between tabs of one browser
// (one origin). Each tab listens on a channel named for its worker id and
// says hello on the cluster's presence channel every second; a peer that
// said hello within helloTTL is reached. Frames are copied once, to the
// peer's channel only, whole: a BroadcastChannel message has no size
// limit below an activation's.
type Broadcast struct {
	prefix string
	// Presence, when set, adds what the tab wants its neighbours (and the
	// dashboard) to see to each hello: a JSON value.
	Presence func() any

	mu    sync.Mutex
	self  string
	inbox js.Value
	hello js.Value
	out   map[string]js.Value
	seen  map[string]time.Time
	recv  func(from string, frame Received)
	// trailer ends every message: the sender's id, then its length (a
	// byte). A message is one Uint8Array — frame, trailer — so that the
	// receiver makes one call for it besides the copy: a JavaScript object
	// handed to Go costs tens of µs.
	trailer []byte

	bufs frameBuffers
}

// NewBroadcast opens the presence channel of cluster.
func NewBroadcast(cluster string) *Broadcast {
	b := &Broadcast{prefix: "tabshard/" + cluster + "/", out: map[string]js.Value{}, seen: map[string]time.Time{}}
	b.hello = js.Global().Get("BroadcastChannel").New(b.prefix + "hello")
	b.hello.Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		b.onHello(args[0].Get("data"))
		return nil
	}))
	go func() {
		for range time.Tick(helloEvery) {
			b.sayHello()
		}
	}()
	return b
}

// Supported reports whether the page has BroadcastChannel.
func Supported() bool { return js.Global().Get("BroadcastChannel").Type() == js.TypeFunction }

func (b *Broadcast) Kind() string { return "broadcast" }

func (b *Broadcast) Link() tabshardv1.Link { return tabshardv1.Link_LINK_BROADCAST_CHANNEL }

func (b *Broadcast) onHello(d js.Value) {
	if d.Type() != js.TypeObject {
		return
	}
	b.mu.Lock()
	if id := d.Get("bye"); id.Type() == js.TypeString {
		delete(b.seen, id.String())
		b.mu.Unlock()
		return
	}
	id := d.Get("hello")
	if id.Type() != js.TypeString || id.String() == b.self {
		b.mu.Unlock()
		return
	}
	_, known := b.seen[id.String()]
	b.seen[id.String()] = time.Now()
	b.mu.Unlock()
	if !known {
		go b.sayHello() // a newcomer learns of this tab at once
	}
}

func (b *Broadcast) sayHello() {
	b.mu.Lock()
	self := b.self
	b.mu.Unlock()
	if self == "" {
		return
	}
	msg := map[string]any{"hello": self}
	if b.Presence != nil {
		msg["info"] = b.Presence()
	}
	b.hello.Call("postMessage", js.ValueOf(msg))
}

// SetSelf listens on the channel of worker id (and stops listening on the
// previous one).
func (b *Broadcast) SetSelf(id string) {
	b.mu.Lock()
	if b.self != "" {
		b.hello.Call("postMessage", js.ValueOf(map[string]any{"bye": b.self}))
	}
	if !b.inbox.IsUndefined() && !b.inbox.IsNull() {
		b.inbox.Call("close")
	}
	b.self = id
	b.trailer = nil
	if len(id) <= maxIDTrailer {
		b.trailer = append([]byte(id), byte(len(id)))
	}
	b.inbox = js.Global().Get("BroadcastChannel").New(b.prefix + "to/" + id)
	uint8Array := js.Global().Get("Uint8Array")
	b.inbox.Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		data := args[0].Get("data")
		if !data.InstanceOf(uint8Array) {
			return nil
		}
		msg := make([]byte, data.Get("byteLength").Int())
		js.CopyBytesToGo(msg, data) // the one copy
		from, frame, ok := cutTrailer(msg)
		b.mu.Lock()
		recv := b.recv
		b.mu.Unlock()
		if ok && recv != nil {
			recv(from, Owned(frame))
		}
		return nil
	}))
	b.mu.Unlock()
	b.sayHello()
}

// Leave says goodbye on the presence channel (the page is going away).
func (b *Broadcast) Leave() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.self != "" {
		b.hello.Call("postMessage", js.ValueOf(map[string]any{"bye": b.self}))
	}
}

func (b *Broadcast) Reaches(peer string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.seen[peer]
	return ok && time.Since(t) < helloTTL
}

// Peers are the tabs that said hello within helloTTL.
func (b *Broadcast) Peers() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for id, t := range b.seen {
		if time.Since(t) < helloTTL {
			out = append(out, id)
		}
	}
	return out
}

func (b *Broadcast) Connect(string) {}

func (b *Broadcast) State(peer string) string {
	if b.Reaches(peer) {
		return "open"
	}
	return "gone"
}

// FrameLimit: a BroadcastChannel carries a whole activation in one
// message.
func (b *Broadcast) FrameLimit() int { return DefaultMaxMessage + headerSize }

// Send writes frame once into a reused JavaScript buffer of its size and
// posts it to peer's channel (which clones it: BroadcastChannel takes no
// transfer list).
func (b *Broadcast) Send(peer string, frame *Frame) error {
	b.mu.Lock()
	ch, ok := b.out[peer]
	if !ok {
		ch = js.Global().Get("BroadcastChannel").New(b.prefix + "to/" + peer)
		b.out[peer] = ch
	}
	trailer := b.trailer
	b.mu.Unlock()
	if trailer == nil {
		return fmt.Errorf("broadcast: no id of at most %d bytes to send as", maxIDTrailer)
	}
	return b.bufs.write(frame, trailer, func(u js.Value) error {
		if err := call(ch, "postMessage", u); err != nil {
			return fmt.Errorf("broadcast: %w", err)
		}
		return nil
	})
}

func (b *Broadcast) Receive(fn func(from string, frame Received)) {
	b.mu.Lock()
	b.recv = fn
	b.mu.Unlock()
}
