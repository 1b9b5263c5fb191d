// Package gguf reads and writes GGUF files, the container ggml and
// llama.cpp use for model weights.
//
// Read parses only the header — metadata key/value pairs and the tensor
// index — through a buffered reader over an io.ReaderAt, so the header of a
// 40 GB model reads in milliseconds and tensor data is touched only by
// ReadTensor and ReadRows, which read exact byte ranges. Versions 1, 2 and 3
// are accepted (version 1 stores counts, string lengths, array lengths and
// tensor dimensions as 32-bit values; versions 2 and 3 use 64 bits). Every
// length and count in the file is checked against the bytes that remain
// before anything is allocated, so malformed input yields a *FormatError
// naming the byte offset and field, never a panic or a huge allocation.
//
// Writer produces files in the layout ggml writes: header, metadata, tensor
// infos, zero padding up to the alignment, then each tensor's data followed
// by zero padding. It streams tensor by tensor, and when writing to an
// *os.File it seeks over all-zero tensors so that they cost no disk.
package gguf
