package gguf

import (
	"fmt"
	"io"
	"os"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the alignment of the data section and of each tensor
// when the file has no general.alignment key.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that overrides DefaultAlignment (a uint32).
const KeyAlignment = "general.alignment"

// KV is one metadata key/value pair.
type KV struct {
	Key   string
	Value Value
}

// File is the header of a GGUF file: its metadata and tensor index.
type File struct {
	Version    uint32
	KV         []KV         // in file order
	Tensors    []TensorInfo // in file order
	Alignment  int64
	DataOffset int64 // absolute start of the data section (may exceed Size when there are no tensors)
	Size       int64 // file size

	keys    map[string]int // key -> index in KV
	tensors map[string]int // name -> index in Tensors
}

// Read reads the header of the GGUF file held by r, which is size bytes
// long. It reads only the header, not tensor data. Malformed input gives a
// *FormatError wrapping one of the sentinel errors.
func Read(r io.ReaderAt, size int64) (*File, error) {
	if size < 0 {
		return nil, &FormatError{Err: fmt.Errorf("%w: negative file size %d", ErrTruncated, size)}
	}
	return newDecoder(r, size).file()
}

// Open opens the GGUF file at path and reads its header. The caller closes
// the returned *os.File, which ReadTensor and ReadRows read from.
func Open(path string) (*File, *os.File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := osf.Stat()
	if err != nil {
		osf.Close()
		return nil, nil, err
	}
	f, err := Read(osf, st.Size())
	if err != nil {
		osf.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, osf, nil
}

// Lookup returns the value of a metadata key.
func (f *File) Lookup(key string) (Value, bool) {
	i, ok := f.keys[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the index entry of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Reindex rebuilds the lookup index after KV or Tensors were changed.
func (f *File) Reindex() {
	f.keys = make(map[string]int, len(f.KV))
	for i, kv := range f.KV {
		f.keys[kv.Key] = i
	}
	f.tensors = make(map[string]int, len(f.Tensors))
	for i, t := range f.Tensors {
		f.tensors[t.Name] = i
	}
}
