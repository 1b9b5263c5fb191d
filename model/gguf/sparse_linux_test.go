//go:build linux

package gguf

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tabshard/tabshard/kernels"
)

// A 40 GiB model of zeros costs almost no disk, and its header reads fast.
func TestSparse40GiB(t *testing.T) {
	dir := t.TempDir()
	if !holesWork(t, dir) {
		t.Skip("the temporary directory's file system does not keep holes")
	}
	w := NewWriter()
	check(t, w.Add("general.name", String("zeros")))
	check(t, w.AddTensorBytes("norm", kernels.F32, []uint64{4}, seq(16)))
	// 10 * 2^30 F32 elements = 40 GiB.
	check(t, w.AddZeroTensor("big", kernels.F32, []uint64{1 << 15, 5 << 16}))
	path := filepath.Join(dir, "zeros.gguf")
	check(t, w.WriteFile(path))

	start := time.Now()
	f, osf, err := Open(path)
	check(t, err)
	defer osf.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("header read took %v", d)
	}
	big, _ := f.Tensor("big")
	if big.Size != 40<<30 || f.Size != big.End() {
		t.Fatalf("big: %+v, file %d", big, f.Size)
	}
	if used := diskBytes(t, path); used > 1<<20 {
		t.Fatalf("file of %d bytes uses %d bytes of disk", f.Size, used)
	}
	last, err := f.ReadRows(osf, big, big.Rows()-1, big.Rows())
	check(t, err)
	for _, b := range last {
		if b != 0 {
			t.Fatal("last row is not zero")
		}
	}
}

// holesWork probes whether a 1 GiB truncated file stays sparse in dir.
func holesWork(t *testing.T, dir string) bool {
	p := filepath.Join(dir, "probe")
	f, err := os.Create(p)
	check(t, err)
	defer os.Remove(p)
	defer f.Close()
	check(t, f.Truncate(1<<30))
	return diskBytes(t, p) < 1<<20
}

func diskBytes(t *testing.T, path string) int64 {
	var st syscall.Stat_t
	check(t, syscall.Stat(path, &st))
	return st.Blocks * 512
}
