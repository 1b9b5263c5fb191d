package gguf

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ValueType is the type of a metadata value, numbered as GGUF numbers it.
type ValueType uint32

// The GGUF metadata value types. The numbers are what files store.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

// MaxDepth is how deeply arrays may nest: an array of scalars has depth 1,
// an array of such arrays depth 2.
const MaxDepth = 8

var typeNames = [...]string{
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
}

// fixedSizes is the encoded size of each fixed-size type; 0 for string and array.
var fixedSizes = [...]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// Valid reports whether t is a GGUF value type.
func (t ValueType) Valid() bool { return t <= TypeFloat64 }

func (t ValueType) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// fixedSize is the encoded size of a number or bool, 0 for any other type.
func (t ValueType) fixedSize() int {
	if t.Valid() {
		return fixedSizes[t]
	}
	return 0
}

func (t ValueType) signed() bool {
	return t == TypeInt8 || t == TypeInt16 || t == TypeInt32 || t == TypeInt64
}

func (t ValueType) unsigned() bool {
	return t == TypeUint8 || t == TypeUint16 || t == TypeUint32 || t == TypeUint64
}

// Value is a typed metadata value. Scalars keep the exact bits the file
// holds; arrays keep their element type and elements, which may themselves
// be arrays. The zero Value is the uint8 0.
type Value struct {
	typ  ValueType
	bits uint64 // number or bool: the stored little-endian bytes, zero-extended
	str  string
	elem ValueType // array element type
	raw  []byte    // array of numbers or bools, little endian as stored
	strs []string  // array of strings
	arrs []Value   // array of arrays
	err  error     // set by Array when an element has the wrong type
}

// Uint8 returns a uint8 value.
func Uint8(v uint8) Value { return Value{typ: TypeUint8, bits: uint64(v)} }

// Int8 returns an int8 value.
func Int8(v int8) Value { return Value{typ: TypeInt8, bits: uint64(uint8(v))} }

// Uint16 returns a uint16 value.
func Uint16(v uint16) Value { return Value{typ: TypeUint16, bits: uint64(v)} }

// Int16 returns an int16 value.
func Int16(v int16) Value { return Value{typ: TypeInt16, bits: uint64(uint16(v))} }

// Uint32 returns a uint32 value.
func Uint32(v uint32) Value { return Value{typ: TypeUint32, bits: uint64(v)} }

// Int32 returns an int32 value.
func Int32(v int32) Value { return Value{typ: TypeInt32, bits: uint64(uint32(v))} }

// Float32 returns a float32 value.
func Float32(v float32) Value { return Value{typ: TypeFloat32, bits: uint64(math.Float32bits(v))} }

// Bool returns a bool value.
func Bool(b bool) Value {
	if b {
		return Value{typ: TypeBool, bits: 1}
	}
	return Value{typ: TypeBool}
}

// String returns a string value.
func String(s string) Value { return Value{typ: TypeString, str: s} }

// Uint64 returns a uint64 value.
func Uint64(v uint64) Value { return Value{typ: TypeUint64, bits: v} }

// Int64 returns an int64 value.
func Int64(v int64) Value { return Value{typ: TypeInt64, bits: uint64(v)} }

// Float64 returns a float64 value.
func Float64(v float64) Value { return Value{typ: TypeFloat64, bits: math.Float64bits(v)} }

// Strings returns an array of strings.
func Strings(s []string) Value {
	return Value{typ: TypeArray, elem: TypeString, strs: slices.Clone(s)}
}

// Float32s returns an array of float32.
func Float32s(s []float32) Value {
	return packed(TypeFloat32, len(s), func(i int) uint64 { return uint64(math.Float32bits(s[i])) })
}

// Int32s returns an array of int32.
func Int32s(s []int32) Value {
	return packed(TypeInt32, len(s), func(i int) uint64 { return uint64(uint32(s[i])) })
}

// Uint32s returns an array of uint32.
func Uint32s(s []uint32) Value {
	return packed(TypeUint32, len(s), func(i int) uint64 { return uint64(s[i]) })
}

// packed builds an array of n fixed-size elements of type elem.
func packed(elem ValueType, n int, bits func(i int) uint64) Value {
	size := elem.fixedSize()
	raw := make([]byte, n*size)
	for i := range n {
		putLE(raw[i*size:(i+1)*size], bits(i))
	}
	return Value{typ: TypeArray, elem: elem, raw: raw}
}

// Array returns an array whose elements all have type elemType; elements
// may be arrays themselves (elemType TypeArray), with any element types. An
// element of another type makes the value invalid: Writer.Add rejects it.
func Array(elemType ValueType, elems ...Value) Value {
	v := Value{typ: TypeArray, elem: elemType}
	size := elemType.fixedSize()
	if size == 0 && elemType != TypeString && elemType != TypeArray {
		v.err = fmt.Errorf("%w: array of %v", ErrValueType, elemType)
		return v
	}
	for i, e := range elems {
		if e.typ != elemType {
			v.err = fmt.Errorf("%w: array of %v: element %d is %v", ErrValue, elemType, i, e.typ)
			return v
		}
		switch elemType {
		case TypeString:
			v.strs = append(v.strs, e.str)
		case TypeArray:
			v.arrs = append(v.arrs, e)
		default:
			v.raw = appendLE(v.raw, e.bits, size)
		}
	}
	return v
}

// Type is the value's type.
func (v Value) Type() ValueType { return v.typ }

// ElemType is the element type of an array.
func (v Value) ElemType() ValueType { return v.elem }

// Len is the number of elements of an array, 0 for any other value.
func (v Value) Len() int {
	if v.typ != TypeArray {
		return 0
	}
	switch v.elem {
	case TypeString:
		return len(v.strs)
	case TypeArray:
		return len(v.arrs)
	}
	if size := v.elem.fixedSize(); size > 0 {
		return len(v.raw) / size
	}
	return 0
}

// Index returns element i of an array. Like a slice index, it panics when
// i is not in [0, Len()).
func (v Value) Index(i int) Value {
	if i < 0 || i >= v.Len() {
		panic(fmt.Sprintf("gguf: Value.Index(%d) of %d elements", i, v.Len()))
	}
	switch v.elem {
	case TypeString:
		return String(v.strs[i])
	case TypeArray:
		return v.arrs[i]
	}
	size := v.elem.fixedSize()
	return Value{typ: v.elem, bits: getLE(v.raw[i*size : (i+1)*size])}
}

// Elems returns the elements of an array.
func (v Value) Elems() []Value {
	out := make([]Value, v.Len())
	for i := range out {
		out[i] = v.Index(i)
	}
	return out
}

// AsUint returns an integer value of any width and sign that is not negative.
func (v Value) AsUint() (uint64, bool) {
	switch {
	case v.typ.unsigned():
		return v.bits, true
	case v.typ.signed():
		i := signExtend(v.bits, v.typ.fixedSize())
		return uint64(i), i >= 0
	}
	return 0, false
}

// AsInt returns an integer value of any width and sign that fits in int64.
func (v Value) AsInt() (int64, bool) {
	switch {
	case v.typ.unsigned():
		return int64(v.bits), v.bits <= math.MaxInt64
	case v.typ.signed():
		return signExtend(v.bits, v.typ.fixedSize()), true
	}
	return 0, false
}

// AsFloat returns a float32 or float64 value, or an integer value converted.
func (v Value) AsFloat() (float64, bool) {
	switch v.typ {
	case TypeFloat32:
		return float64(math.Float32frombits(uint32(v.bits))), true
	case TypeFloat64:
		return math.Float64frombits(v.bits), true
	}
	if i, ok := v.AsInt(); ok {
		return float64(i), true
	}
	if u, ok := v.AsUint(); ok {
		return float64(u), true
	}
	return 0, false
}

// AsBool returns a bool value; any nonzero stored byte is true.
func (v Value) AsBool() (bool, bool) { return v.bits != 0, v.typ == TypeBool }

// AsString returns a string value.
func (v Value) AsString() (string, bool) { return v.str, v.typ == TypeString }

// AsStrings returns a copy of an array of strings.
func (v Value) AsStrings() ([]string, bool) {
	if v.typ != TypeArray || v.elem != TypeString {
		return nil, false
	}
	return slices.Clone(v.strs), true
}

// AsFloat32s returns an array of float32.
func (v Value) AsFloat32s() ([]float32, bool) {
	if v.typ != TypeArray || v.elem != TypeFloat32 {
		return nil, false
	}
	out := make([]float32, v.Len())
	for i := range out {
		out[i] = math.Float32frombits(uint32(getLE(v.raw[4*i : 4*i+4])))
	}
	return out, true
}

// AsInt32s returns an array of int32 or of uint32 whose elements all fit in
// int32.
func (v Value) AsInt32s() ([]int32, bool) {
	if v.typ != TypeArray || (v.elem != TypeInt32 && v.elem != TypeUint32) {
		return nil, false
	}
	out := make([]int32, v.Len())
	for i := range out {
		u := uint32(getLE(v.raw[4*i : 4*i+4]))
		if v.elem == TypeUint32 && u > math.MaxInt32 {
			return nil, false
		}
		out[i] = int32(u)
	}
	return out, true
}

// AsUint32s returns an array of uint32 or of int32 whose elements are all
// non-negative.
func (v Value) AsUint32s() ([]uint32, bool) {
	if v.typ != TypeArray || (v.elem != TypeInt32 && v.elem != TypeUint32) {
		return nil, false
	}
	out := make([]uint32, v.Len())
	for i := range out {
		out[i] = uint32(getLE(v.raw[4*i : 4*i+4]))
		if v.elem == TypeInt32 && out[i] > math.MaxInt32 {
			return nil, false
		}
	}
	return out, true
}

// Equal reports whether v and o have the same type and the same stored
// bits (so a NaN equals itself and 0.0 differs from -0.0).
func (v Value) Equal(o Value) bool {
	if v.typ != o.typ || v.bits != o.bits || v.str != o.str || v.elem != o.elem {
		return false
	}
	if !bytes.Equal(v.raw, o.raw) || !slices.Equal(v.strs, o.strs) {
		return false
	}
	return slices.EqualFunc(v.arrs, o.arrs, Value.Equal)
}

// typeName is the type for messages: "uint32", "array of string".
func (v Value) typeName() string {
	if v.typ == TypeArray {
		return "array of " + v.elem.String()
	}
	return v.typ.String()
}

// String formats the value for people; long arrays are abbreviated.
func (v Value) String() string {
	switch {
	case v.typ == TypeArray:
		return v.arrayString(8)
	case v.typ == TypeString:
		return strconv.Quote(v.str)
	case v.typ == TypeBool:
		b, _ := v.AsBool()
		return strconv.FormatBool(b)
	case v.typ == TypeFloat32:
		return strconv.FormatFloat(float64(math.Float32frombits(uint32(v.bits))), 'g', -1, 32)
	case v.typ == TypeFloat64:
		return strconv.FormatFloat(math.Float64frombits(v.bits), 'g', -1, 64)
	case v.typ.signed():
		return strconv.FormatInt(signExtend(v.bits, v.typ.fixedSize()), 10)
	case v.typ.unsigned():
		return strconv.FormatUint(v.bits, 10)
	}
	return v.typ.String()
}

func (v Value) arrayString(max int) string {
	var b strings.Builder
	b.WriteByte('[')
	n := v.Len()
	for i := range min(n, max) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.Index(i).String())
	}
	if n > max {
		fmt.Fprintf(&b, ", … (%d elements)", n)
	}
	b.WriteByte(']')
	return b.String()
}

// check reports whether the writer can encode v, nested at depth.
func (v Value) check(depth int) error {
	switch {
	case v.err != nil:
		return v.err
	case !v.typ.Valid():
		return fmt.Errorf("%w: %d", ErrValueType, uint32(v.typ))
	case v.typ != TypeArray:
		return nil
	case depth >= MaxDepth:
		return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	case !v.elem.Valid():
		return fmt.Errorf("%w: array of %d", ErrValueType, uint32(v.elem))
	}
	for i, e := range v.arrs {
		if err := e.check(depth + 1); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	return nil
}

func signExtend(bits uint64, size int) int64 {
	shift := 64 - 8*size
	return int64(bits<<shift) >> shift
}

func getLE(b []byte) uint64 {
	var x uint64
	for i := len(b) - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x
}

func putLE(b []byte, x uint64) {
	for i := range b {
		b[i] = byte(x)
		x >>= 8
	}
}

func appendLE(b []byte, x uint64, size int) []byte {
	for range size {
		b = append(b, byte(x))
		x >>= 8
	}
	return b
}
