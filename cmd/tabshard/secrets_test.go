package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestJoinToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("  from-file\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	noEnv := func(string) string { return "" }
	withEnv := func(k string) string {
		if k == envJoinToken {
			return "from-env"
		}
		return ""
	}
	for _, c := range []struct {
		flag, file string
		getenv     func(string) string
		want       string
		bad        bool
	}{
		{"", "", noEnv, "", false},
		{"from-flag", "", noEnv, "from-flag", false},
		{"", file, noEnv, "from-file", false},
		{"", "", withEnv, "from-env", false},
		{"from-flag", file, noEnv, "", true},
		{"", file, withEnv, "", true},
		{"", empty, noEnv, "", true},
		{"", filepath.Join(dir, "missing"), noEnv, "", true},
	} {
		got, err := joinToken(c.flag, c.file, c.getenv)
		if got != c.want || (err != nil) != c.bad || (err != nil && !errors.Is(err, errUsage)) {
			t.Errorf("flag %q file %q: %q, %v; want %q (error %v)", c.flag, c.file, got, err, c.want, c.bad)
		}
	}
}

func TestHostList(t *testing.T) {
	var h hostList
	if err := h.Set("a.example, b.example"); err != nil || len(h) != 2 || h[1] != "b.example" {
		t.Errorf("%v %v", h, err)
	}
	for _, bad := range []string{"http://a.example", "a.example:80", ""} {
		if err := h.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
