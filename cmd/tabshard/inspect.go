package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/tabshard/tabshard/model/gguf"
	"strconv"
)

// longArray is the length past which inspect summarises an array.
const longArray = 16

func runInspect(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	tensor := fs.String("tensor", "", "print only this tensor's row of the table")
	dequant := fs.Bool("dequant", false, "with --tensor: print its values as float32, one per line (%.9g)")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErr("want one GGUF file, got %d arguments (tabshard inspect FILE [--json])", len(rest))
	}
	f, osf, err := gguf.Open(rest[0])
	if err != nil {
		return fmt.Errorf("%s: %w", rest[0], err)
	}
	defer osf.Close()
	if *dequant && *tensor == "" {
		return usageErr("--dequant needs --tensor NAME")
	}
	if *tensor != "" {
		return inspectTensor(e.stdout, f, osf, *tensor, *dequant)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(inspectJSON(f))
	}
	return inspectText(e.stdout, rest[0], f)
}

type tensorRow struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Dims   []uint64 `json:"dims"`
	Offset int64    `json:"offset"`
	Bytes  int64    `json:"bytes"`
}

type totals struct {
	Tensors  int   `json:"tensors"`
	Elements int64 `json:"elements"`
	Bytes    int64 `json:"bytes"`
}

type inspectDoc struct {
	Version    uint32         `json:"version"`
	FileSize   int64          `json:"file_size"`
	Alignment  int64          `json:"alignment"`
	DataOffset int64          `json:"data_offset"`
	Metadata   map[string]any `json:"metadata"`
	Tensors    []tensorRow    `json:"tensors"`
	Totals     totals         `json:"totals"`
}

func inspectJSON(f *gguf.File) inspectDoc {
	d := inspectDoc{Version: f.Version, FileSize: f.Size, Alignment: f.Alignment, DataOffset: f.DataOffset, Metadata: map[string]any{}}
	for _, kv := range f.KV {
		d.Metadata[kv.Key] = jsonValue(kv.Value)
	}
	d.Tensors, d.Totals = tensorTable(f)
	return d
}

func tensorTable(f *gguf.File) ([]tensorRow, totals) {
	rows := make([]tensorRow, 0, len(f.Tensors))
	var tot totals
	for _, t := range f.Tensors {
		rows = append(rows, tensorRow{Name: t.Name, Type: t.Type.String(), Dims: t.Dims, Offset: t.Offset, Bytes: t.Size})
		tot.Tensors++
		tot.Elements += t.Elements()
		tot.Bytes += t.Size
	}
	return rows, tot
}

// jsonValue turns a metadata value into JSON, summarising long arrays as
// their type, length and first elements.
func jsonValue(v gguf.Value) any {
	if v.Type() == gguf.TypeArray {
		n := v.Len()
		elems := make([]any, 0, min(n, longArray))
		for i := range min(n, longArray) {
			elems = append(elems, jsonValue(v.Index(i)))
		}
		if n <= longArray {
			return elems
		}
		return map[string]any{"array_of": v.ElemType().String(), "count": n, "first": elems}
	}
	if s, ok := v.AsString(); ok {
		return s
	}
	if b, ok := v.AsBool(); ok {
		return b
	}
	if u, ok := v.AsUint(); ok {
		return u
	}
	if i, ok := v.AsInt(); ok {
		return i
	}
	if x, ok := v.AsFloat(); ok && !math.IsNaN(x) && !math.IsInf(x, 0) {
		return x
	}
	return v.String()
}

func inspectText(w io.Writer, path string, f *gguf.File) error {
	fmt.Fprintf(w, "%s: GGUF version %d, %s, %d metadata keys, %d tensors, data at offset %d (alignment %d)\n\n",
		path, f.Version, byteSize(f.Size), len(f.KV), len(f.Tensors), f.DataOffset, f.Alignment)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tVALUE")
	for _, kv := range f.KV {
		typ := kv.Value.Type().String()
		if kv.Value.Type() == gguf.TypeArray {
			typ = fmt.Sprintf("[%d]%s", kv.Value.Len(), kv.Value.ElemType())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", kv.Key, typ, oneLine(kv.Value.String()))
	}
	tw.Flush()
	fmt.Fprintln(w)
	rows, tot := tensorTable(f)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSHAPE\tOFFSET\tBYTES\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t\n", r.Name, r.Type, dims(r.Dims), r.Offset, r.Bytes)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ntotal: %d tensors, %d elements, %s of tensor data\n", tot.Tensors, tot.Elements, byteSize(tot.Bytes))
	return nil
}

func dims(d []uint64) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, "×")
}

// byteSize formats n bytes with a binary unit.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// decimalSize formats a byte count with a decimal unit (B, kB, MB, GB, TB),
// as bandwidths and model sizes are quoted.
func decimalSize(n float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for ; n >= 1000 && i < len(units)-1; i++ {
		n /= 1000
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.2f %s", n, units[i])
}

// dequantRows is how many rows inspect decodes at a time.
const dequantRows = 64

// inspectTensor prints one tensor's table row, or all its values.
func inspectTensor(w io.Writer, f *gguf.File, r io.ReaderAt, name string, dequant bool) error {
	t, ok := f.Tensor(name)
	if !ok {
		return fmt.Errorf("no tensor %q in the file (tabshard inspect FILE lists them)", name)
	}
	if !dequant {
		fmt.Fprintf(w, "%s\t%s\t%s\toffset %d\t%d bytes\n", t.Name, t.Type, dims(t.Dims), t.Offset, t.Size)
		return nil
	}
	codec, err := t.Type.Codec()
	if err != nil {
		return fmt.Errorf("tensor %s: %w", name, err)
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	row := make([]float32, t.Dims[0])
	rb := t.RowBytes()
	buf := make([]byte, 0, 24)
	for begin := int64(0); begin < t.Rows(); begin += dequantRows {
		end := min(begin+dequantRows, t.Rows())
		data, err := f.ReadRows(r, t, begin, end)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", name, err)
		}
		for i := int64(0); i < end-begin; i++ {
			codec.Dequantize(row, data[i*rb:(i+1)*rb])
			for _, v := range row {
				buf = strconv.AppendFloat(buf[:0], float64(v), 'g', 9, 32)
				bw.Write(append(buf, '\n'))
			}
		}
	}
	return nil
}
