//go:build js && wasm

package gpu

import (
	"context"
	"fmt"
	"syscall/js"
)

// Buffer is a GPU buffer.
type Buffer struct {
	v    js.Value
	Size int64
}

// Binding is a range of a buffer bound to one binding slot; Size 0 means
// to the end of the buffer.
type Binding struct {
	Buffer *Buffer
	Offset int64
	Size   int64
}

// Whole binds all of b.
func (b *Buffer) Whole() Binding { return Binding{Buffer: b} }

// NewStorage creates a storage buffer of at least size bytes (rounded up
// to whole words), readable and writable by kernels and copies.
func (d *Device) NewStorage(size int64) (*Buffer, error) {
	return d.newBuffer(size, usageStorage|usageCopySrc|usageCopyDst)
}

// NewUniform creates a uniform buffer of at least size bytes.
func (d *Device) NewUniform(size int64) (*Buffer, error) {
	return d.newBuffer(size, usageUniform|usageCopyDst)
}

func (d *Device) newBuffer(size int64, usage int) (*Buffer, error) {
	size = max(16, roundUp(size, 16))
	if size > d.Limits.MaxBufferSize {
		return nil, fmt.Errorf("%w: buffer of %d bytes (maxBufferSize %d)", ErrLimits, size, d.Limits.MaxBufferSize)
	}
	d.device.Call("pushErrorScope", "out-of-memory")
	v := d.device.Call("createBuffer", object("size", size, "usage", usage))
	if err := d.popScope(); err != nil {
		return nil, fmt.Errorf("buffer of %d bytes: %w", size, err)
	}
	return &Buffer{v: v, Size: size}, nil
}

// popScope pops an error scope without waiting for it: the error, if
// any, arrives later through Err. Waiting would cost a round trip to the
// GPU process per buffer.
func (d *Device) popScope() error {
	d.device.Call("popErrorScope").Call("then", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 && args[0].Type() == js.TypeObject {
			d.fail(args[0].Get("message").String())
		}
		return nil
	}))
	return nil
}

// Destroy frees b's memory now.
func (b *Buffer) Destroy() {
	if b != nil && b.v.Type() == js.TypeObject {
		b.v.Call("destroy")
	}
}

// Write copies data into b at offset off (both multiples of 4 bytes; data
// is padded with zeros to a whole word).
func (d *Device) Write(b *Buffer, off int64, data []byte) {
	for len(data) > 0 {
		n := min(len(data), 16<<20)
		d.writeOnce(b, off, data[:n])
		data, off = data[n:], off+int64(n)
	}
}

func (d *Device) writeOnce(b *Buffer, off int64, data []byte) {
	n := int(roundUp(int64(len(data)), 4))
	if d.staging.Type() != js.TypeObject || d.staging.Get("length").Int() < n {
		d.staging = js.Global().Get("Uint8Array").New(max(n, 1<<16))
	}
	js.CopyBytesToJS(d.staging, data)
	for i := len(data); i < n; i++ {
		d.staging.SetIndex(i, 0)
	}
	d.queue.Call("writeBuffer", b.v, off, d.staging, 0, n)
}

// WriteF32 copies values into b at byte offset off.
func (d *Device) WriteF32(b *Buffer, off int64, v []float32) { d.Write(b, off, f32Bytes(v)) }

// WriteU32 copies words into b at byte offset off.
func (d *Device) WriteU32(b *Buffer, off int64, v []uint32) { d.Write(b, off, u32Bytes(v)) }

// Read copies size bytes of b at off (multiples of 4) into dst, waiting
// for the GPU to finish everything submitted before.
func (d *Device) Read(ctx context.Context, b *Buffer, off int64, dst []byte) error {
	size := roundUp(int64(len(dst)), 4)
	if size == 0 {
		return nil
	}
	if d.readback == nil || d.readback.Size < size {
		d.readback.Destroy()
		rb, err := d.newBuffer(max(size, 1<<16), usageMapRead|usageCopyDst)
		if err != nil {
			return err
		}
		d.readback = rb
	}
	d.submit(js.Null(), js.Null(), 0, array(b.v, off, d.readback.v, 0, size))
	return d.ReadMapped(ctx, d.readback, dst)
}

// NewReadback makes a buffer of size bytes to copy results into and map
// for reading (ReadMapped).
func (d *Device) NewReadback(size int64) (*Buffer, error) {
	return d.newBuffer(roundUp(max(size, 4), 4), usageMapRead|usageCopyDst)
}

// ReadMapped waits for the GPU to finish what was submitted before, then
// copies the first len(dst) bytes of rb, a readback buffer, into dst.
func (d *Device) ReadMapped(ctx context.Context, rb *Buffer, dst []byte) error {
	size := roundUp(int64(len(dst)), 4)
	if _, err := await(ctx, rb.v.Call("mapAsync", 1, 0, size)); err != nil {
		return err
	}
	view := js.Global().Get("Uint8Array").New(rb.v.Call("getMappedRange", 0, size))
	js.CopyBytesToGo(dst, view)
	rb.v.Call("unmap")
	return d.Err()
}

// ReadF32 reads len(dst) floats of b at byte offset off.
func (d *Device) ReadF32(ctx context.Context, b *Buffer, off int64, dst []float32) error {
	return d.Read(ctx, b, off, f32Bytes(dst))
}

// ReadU32 reads len(dst) words of b at byte offset off.
func (d *Device) ReadU32(ctx context.Context, b *Buffer, off int64, dst []uint32) error {
	return d.Read(ctx, b, off, u32Bytes(dst))
}

// Wait blocks until the GPU has finished all submitted work.
func (d *Device) Wait(ctx context.Context) error {
	if _, err := await(ctx, d.queue.Call("onSubmittedWorkDone")); err != nil {
		return err
	}
	return d.Err()
}
