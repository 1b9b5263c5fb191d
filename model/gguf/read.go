package gguf

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/tabshard/tabshard/kernels"
)

// header is what the decoder collects beyond the File itself: where each
// tensor's offset field sits and the offset relative to the data section.
type header struct {
	f        *File
	fieldOff []int64
	rel      []uint64
}

// file reads a whole header and builds the tensor index.
func (d *decoder) file() (*File, error) {
	h := &header{f: &File{Size: d.size, Alignment: DefaultAlignment}}
	if err := d.preamble(h.f); err != nil {
		return nil, err
	}
	nTensors, err := d.count(d.minTensorInfo(), "tensor count")
	if err != nil {
		return nil, within(err, "tensor count")
	}
	nKV, err := d.count(int64(d.lenSize())+5, "kv count")
	if err != nil {
		return nil, within(err, "kv count")
	}
	if err := d.kvs(h.f, nKV); err != nil {
		return nil, err
	}
	if err := d.tensorInfos(h, nTensors); err != nil {
		return nil, err
	}
	if err := d.place(h); err != nil {
		return nil, err
	}
	return h.f, nil
}

// preamble reads the magic and the version.
func (d *decoder) preamble(f *File) error {
	n := min(d.size, int64(len(Magic)))
	magic := make([]byte, n)
	if err := d.full(magic); err != nil {
		return within(err, "magic")
	}
	if string(magic) != Magic[:n] {
		return &FormatError{Field: "magic", Err: fmt.Errorf("%w: starts with %q", ErrNotGGUF, magic)}
	}
	if n < int64(len(Magic)) {
		return &FormatError{Field: "magic", Err: fmt.Errorf("%w: file is only %d bytes", ErrTruncated, d.size)}
	}
	v, err := d.u32("version")
	if err != nil {
		return within(err, "version")
	}
	if v < 1 || v > 3 {
		return within(failAt(4, ErrVersion, "%d%s (want 1, 2 or 3)", v, bigEndianHint(v)), "version")
	}
	f.Version, d.version = v, v
	return nil
}

func bigEndianHint(v uint32) string {
	if r := bits.ReverseBytes32(v); r >= 1 && r <= 3 {
		return fmt.Sprintf(", which is big-endian version %d: not supported", r)
	}
	return ""
}

// minTensorInfo is the fewest bytes a tensor info can take.
func (d *decoder) minTensorInfo() int64 {
	return int64(d.lenSize()) + 4 + d.dimSize() + 4 + 8
}

// dimSize is the size of one dimension: 4 bytes in version 1, else 8.
func (d *decoder) dimSize() int64 { return int64(d.lenSize()) }

// kvs reads n metadata pairs and applies general.alignment.
func (d *decoder) kvs(f *File, n int64) error {
	f.KV = make([]KV, 0, min(n, capHint))
	f.keys = make(map[string]int, min(n, capHint))
	for i := range n {
		kv, err := d.kv(f, i)
		if err != nil {
			return err
		}
		f.keys[kv.Key] = len(f.KV)
		f.KV = append(f.KV, kv)
	}
	return nil
}

func (d *decoder) kv(f *File, i int64) (KV, error) {
	start := d.off
	key, err := d.str("key length")
	if err != nil {
		return KV{}, within(err, fmt.Sprintf("kv %d key", i))
	}
	field := fmt.Sprintf("kv %d (%q) ", i, key)
	if j, dup := f.keys[key]; dup {
		err := failAt(start, ErrDuplicate, "key %q is also kv %d", key, j)
		return KV{}, within(err, field+"key")
	}
	t, err := d.valueType("value type")
	if err != nil {
		return KV{}, within(err, field+"type")
	}
	valueOff := d.off
	v, err := d.value(t, 0)
	if err != nil {
		return KV{}, within(err, field+"value")
	}
	if key == KeyAlignment {
		if err := setAlignment(f, v); err != nil {
			return KV{}, &FormatError{Offset: valueOff, Field: field + "value", Err: err}
		}
	}
	return KV{Key: key, Value: v}, nil
}

// setAlignment applies a general.alignment value, which ggml requires to be
// a uint32 power of two.
func setAlignment(f *File, v Value) error {
	if v.Type() != TypeUint32 {
		return fmt.Errorf("%w: %s is %s, want uint32", ErrKeyType, KeyAlignment, v.typeName())
	}
	a, _ := v.AsUint()
	if a == 0 || a&(a-1) != 0 {
		return fmt.Errorf("%w: %d is not a power of two", ErrAlignment, a)
	}
	f.Alignment = int64(a)
	return nil
}

// tensorInfos reads n tensor infos.
func (d *decoder) tensorInfos(h *header, n int64) error {
	f := h.f
	f.Tensors = make([]TensorInfo, 0, min(n, capHint))
	f.tensors = make(map[string]int, min(n, capHint))
	for i := range n {
		t, err := d.tensorInfo(h, i)
		if err != nil {
			return err
		}
		f.tensors[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	return nil
}

func (d *decoder) tensorInfo(h *header, i int64) (TensorInfo, error) {
	start := d.off
	name, err := d.str("name length")
	if err != nil {
		return TensorInfo{}, within(err, fmt.Sprintf("tensor %d name", i))
	}
	field := fmt.Sprintf("tensor %d (%q) ", i, name)
	if j, dup := h.f.tensors[name]; dup {
		err := failAt(start, ErrDuplicate, "tensor name %q is also tensor %d", name, j)
		return TensorInfo{}, within(err, field+"name")
	}
	t := TensorInfo{Name: name}
	if err := d.shape(&t); err != nil {
		return TensorInfo{}, within(err, field)
	}
	offOff := d.off
	rel, err := d.u64("offset")
	if err == nil && rel%uint64(h.f.Alignment) != 0 {
		err = failAt(offOff, ErrAlignment, "offset %d is not a multiple of the alignment %d", rel, h.f.Alignment)
	}
	if err != nil {
		return TensorInfo{}, within(err, field+"offset")
	}
	h.fieldOff = append(h.fieldOff, offOff)
	h.rel = append(h.rel, rel)
	return t, nil
}

// shape reads n_dims, the dimensions and the type, and computes the size.
func (d *decoder) shape(t *TensorInfo) error {
	nDimsOff := d.off
	nDims, err := d.u32("n_dims")
	if err != nil {
		return within(err, "n_dims")
	}
	if nDims == 0 || nDims > MaxDims {
		return within(failAt(nDimsOff, ErrShape, "%d dimensions (want 1 to %d)", nDims, MaxDims), "n_dims")
	}
	dimsOff := d.off
	t.Dims = make([]uint64, nDims)
	for j := range t.Dims {
		if t.Dims[j], err = d.fixed(int(d.dimSize()), "dimension"); err != nil {
			return within(err, "dims")
		}
	}
	typeOff := d.off
	typ, err := d.u32("type")
	if err != nil {
		return within(err, "type")
	}
	t.Type = kernels.DType(typ)
	if _, err := t.Type.Layout(); err != nil {
		return &FormatError{Offset: typeOff, Field: "type", Err: err}
	}
	if t.Size, err = tensorSize(t.Type, t.Dims); err != nil {
		return &FormatError{Offset: dimsOff, Field: "dims", Err: fmt.Errorf("%v of %v: %w", t.Dims, t.Type, err)}
	}
	return nil
}

// place fixes the data section, turns relative offsets into absolute ones
// and checks that every tensor lies inside the file and none overlap.
func (d *decoder) place(h *header) error {
	f := h.f
	dataOff, ok := alignUp(d.off, f.Alignment)
	if !ok {
		return d.fail(ErrTruncated, "data section offset overflows")
	}
	f.DataOffset = dataOff
	for i := range f.Tensors {
		if err := placeTensor(f, &f.Tensors[i], h.rel[i]); err != nil {
			return &FormatError{Offset: h.fieldOff[i], Field: fmt.Sprintf("tensor %d (%q) offset", i, f.Tensors[i].Name), Err: err}
		}
	}
	return checkOverlap(f, h.fieldOff)
}

func placeTensor(f *File, t *TensorInfo, rel uint64) error {
	room := f.Size - f.DataOffset
	if rel > math.MaxInt64 || int64(rel) > room || t.Size > room-int64(rel) {
		return fmt.Errorf("%w: data [%d, +%d) from the data section at %d ends past the end of the file (%d bytes)",
			ErrTruncated, rel, t.Size, f.DataOffset, f.Size)
	}
	t.Offset = f.DataOffset + int64(rel)
	return nil
}

// checkOverlap reports the first pair of tensors whose data overlap.
func checkOverlap(f *File, fieldOff []int64) error {
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(f.Tensors[a].Offset, f.Tensors[b].Offset)
	})
	for k := 1; k < len(order); k++ {
		prev, cur := &f.Tensors[order[k-1]], &f.Tensors[order[k]]
		if cur.Offset < prev.End() {
			return &FormatError{
				Offset: fieldOff[order[k]],
				Field:  fmt.Sprintf("tensor %d (%q) offset", order[k], cur.Name),
				Err: fmt.Errorf("%w: data [%d, %d) overlaps tensor %d (%q) at [%d, %d)",
					ErrOverlap, cur.Offset, cur.End(), order[k-1], prev.Name, prev.Offset, prev.End()),
			}
		}
	}
	return nil
}
