package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/tabshard/tabshard/coordinator"
	"github.com/tabshard/tabshard/coordinator/api"
)

// envJoinToken is the environment variable a coordinator's join token can
// come from, so that it is not in argv (every `ps` listing shows argv).
// (The worker reads the same variable.)
const envJoinToken = "TABSHARD_JOIN_TOKEN"

// joinToken picks the join token from at most one of --join-token,
// --join-token-file and $TABSHARD_JOIN_TOKEN; "" when none is set.
func joinToken(flagValue, file string, getenv func(string) string) (string, error) {
	env := strings.TrimSpace(getenv(envJoinToken))
	set := 0
	for _, v := range []string{flagValue, file, env} {
		if v != "" {
			set++
		}
	}
	switch {
	case set > 1:
		return "", usageErr("the join token comes from one of --join-token, --join-token-file and $%s, not several", envJoinToken)
	case file != "":
		return readSecretFile(file, "--join-token-file")
	case env != "":
		return env, nil
	}
	return flagValue, nil
}

// readSecretFile reads a one-line secret, trimmed of surrounding space.
func readSecretFile(path, flagName string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageErr("%s: %v", flagName, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return "", usageErr("%s %s: want the secret alone on one line", flagName, path)
	}
	return s, nil
}

// apiAccessFlags loads the API and admin key files into cfg.
func apiAccessFlags(cfg *coordinator.Config, apiKeyFile, adminKeyFile string) error {
	for _, f := range []struct {
		path, flag string
		dst        **api.KeySet
	}{{apiKeyFile, "--api-key-file", &cfg.APIKeys}, {adminKeyFile, "--admin-key-file", &cfg.AdminKeys}} {
		if f.path == "" {
			continue
		}
		ks, err := api.LoadKeys(f.path)
		if err != nil {
			return usageErr("%s: %v", f.flag, err)
		}
		*f.dst = ks
	}
	return nil
}

// hostList is a repeatable flag of host names, each also comma-separated.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, "/:@ ") {
			return fmt.Errorf("%q is not a host name (give the name alone, no scheme or port)", name)
		}
		*h = append(*h, name)
	}
	return nil
}
