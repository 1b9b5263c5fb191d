//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"syscall/js"
)

// await blocks until the promise p settles and returns its value. If ctx
// ends first the callbacks are left to the promise (they only send on a
// buffered channel nobody reads).
func await(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- result{v: v}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: jsError(args)}
		return nil
	})
	p.Call("then", ok, fail)
	select {
	case r := <-ch:
		ok.Release()
		fail.Release()
		return r.v, r.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err()
	}
}

// jsError turns a rejection reason into an error.
func jsError(args []js.Value) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: promise rejected", ErrDevice)
	}
	v := args[0]
	if v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString {
		return fmt.Errorf("%w: %s", ErrDevice, v.Get("message").String())
	}
	return fmt.Errorf("%w: %s", ErrDevice, v.String())
}

// object builds a JS object from alternating keys and values.
func object(kv ...any) js.Value {
	o := js.Global().Get("Object").New()
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// array builds a JS array.
func array(vs ...any) js.Value { return js.ValueOf(vs) }

// num reads a numeric property, 0 when absent.
func num(v js.Value, key string) float64 {
	p := v.Get(key)
	if p.Type() != js.TypeNumber {
		return 0
	}
	return p.Float()
}

// str reads a string property, "" when absent.
func str(v js.Value, key string) string {
	p := v.Get(key)
	if p.Type() != js.TypeString {
		return ""
	}
	return p.String()
}
