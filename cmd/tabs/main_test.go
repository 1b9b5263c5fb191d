package main

import (
	"io"
	"strings"
	"testing"
)

// Bad command lines are refused before any browser starts.
func TestBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--coordinator is required"},
		{[]string{"--coordinator", "http://127.0.0.1:1"}, "--join-token is required"},
		{[]string{"--coordinator", "http://127.0.0.1:1", "--join-token", "T", "--tabs", "0"}, "--tabs 0"},
		{[]string{"--coordinator", "not a url", "--gpu-info"}, "--coordinator"},
		{[]string{"--coordinator", "http://127.0.0.1:1", "--gpu-info", "extra"}, "unexpected arguments"},
		{[]string{"--nope"}, "not defined"},
	} {
		err := run(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.args, err, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	o, err := parse([]string{"--coordinator", "http://127.0.0.1:8080/", "--join-token", "T", "--tabs", "8",
		"--flag", "use-angle=vulkan", "--flag", "--ignore-gpu-blocklist", "--memory-mb", "24000"})
	if err != nil {
		t.Fatal(err)
	}
	if o.coordinator != "http://127.0.0.1:8080" || o.tabs != 8 || len(o.flags) != 2 || o.memoryMB != 24000 || o.backend != "webgpu" {
		t.Fatalf("%+v", o)
	}
}
