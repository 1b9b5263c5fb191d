package gguf

import "fmt"

// get returns the value of key, or ErrMissingKey.
func (f *File) get(key string) (Value, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf: key %q: %w", key, ErrMissingKey)
	}
	return v, nil
}

// typed applies an accessor of Value to the value of key.
func typed[T any](f *File, key, want string, as func(Value) (T, bool)) (T, error) {
	v, err := f.get(key)
	if err != nil {
		var zero T
		return zero, err
	}
	x, ok := as(v)
	if !ok {
		return x, fmt.Errorf("gguf: key %q: %w: have %s %v, want %s", key, ErrKeyType, v.typeName(), short(v), want)
	}
	return x, nil
}

// short formats v for an error message.
func short(v Value) string {
	if v.typ == TypeArray {
		return fmt.Sprintf("(%d elements)", v.Len())
	}
	s := v.String()
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// String returns a string value.
func (f *File) String(key string) (string, error) {
	return typed(f, key, "string", Value.AsString)
}

// Uint returns a non-negative integer value of any integer type.
func (f *File) Uint(key string) (uint64, error) {
	return typed(f, key, "non-negative integer", Value.AsUint)
}

// Int returns an integer value of any integer type that fits in int64.
func (f *File) Int(key string) (int64, error) {
	return typed(f, key, "integer", Value.AsInt)
}

// Float returns a float32, float64 or integer value as a float64.
func (f *File) Float(key string) (float64, error) {
	return typed(f, key, "number", Value.AsFloat)
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, error) {
	return typed(f, key, "bool", Value.AsBool)
}

// Strings returns an array of strings.
func (f *File) Strings(key string) ([]string, error) {
	return typed(f, key, "array of string", Value.AsStrings)
}

// Float32s returns an array of float32.
func (f *File) Float32s(key string) ([]float32, error) {
	return typed(f, key, "array of float32", Value.AsFloat32s)
}

// Int32s returns an array of int32, or of uint32 whose elements fit in int32.
func (f *File) Int32s(key string) ([]int32, error) {
	return typed(f, key, "array of int32", Value.AsInt32s)
}

// Uint32s returns an array of uint32, or of int32 whose elements are not
// negative.
func (f *File) Uint32s(key string) ([]uint32, error) {
	return typed(f, key, "array of uint32", Value.AsUint32s)
}
