package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadJoinToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flag, file, env, want string
		ok                    bool
	}{
		{"from-flag", "", "", "from-flag", true},
		{"", file, "", "from-file", true},
		{"", "", " from-env ", "from-env", true},
		{"", "", "", "", false},
		{"a", file, "", "", false},
		{"", file, "b", "", false},
		{"", empty, "", "", false},
		{"", filepath.Join(dir, "missing"), "", "", false},
	} {
		got, err := readJoinToken(tc.flag, tc.file, tc.env)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("readJoinToken(%q, %q, %q) = %q, %v", tc.flag, tc.file, tc.env, got, err)
		}
	}
}
