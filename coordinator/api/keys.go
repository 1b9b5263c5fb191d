package api

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MinKeyLength is the shortest API or admin key a key file may hold.
const MinKeyLength = 16

// ErrKeyFile is a key file that cannot be used.
var ErrKeyFile = errors.New("invalid key file")

// KeySet is a set of keys (API keys or admin keys), held as their SHA-256
// with an optional name each. A nil or empty KeySet holds no key.
type KeySet struct {
	names map[[sha256.Size]byte]string // hash → name ("" when unnamed)
}

// ParseKeys reads keys one a line: "KEY" or "NAME KEY". Blank lines and
// lines starting with '#' are skipped. source names the input in errors.
func ParseKeys(r io.Reader, source string) (*KeySet, error) {
	ks := &KeySet{names: map[[sha256.Size]byte]string{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, key, err := keyLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrKeyFile, source, n, err)
		}
		h := sha256.Sum256([]byte(key))
		if _, dup := ks.names[h]; dup {
			return nil, fmt.Errorf("%w: %s line %d: the same key twice", ErrKeyFile, source, n)
		}
		ks.names[h] = name
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, source, err)
	}
	if len(ks.names) == 0 {
		return nil, fmt.Errorf("%w: %s holds no key (one a line: KEY or NAME KEY)", ErrKeyFile, source)
	}
	return ks, nil
}

// keyLine splits "KEY" or "NAME KEY".
func keyLine(line string) (name, key string, err error) {
	f := strings.Fields(line)
	switch len(f) {
	case 1:
		key = f[0]
	case 2:
		name, key = f[0], f[1]
	default:
		return "", "", fmt.Errorf("%d words; want KEY or NAME KEY", len(f))
	}
	if len(key) < MinKeyLength {
		return "", "", fmt.Errorf("a key of %d characters; keys need at least %d", len(key), MinKeyLength)
	}
	return name, key, nil
}

// LoadKeys reads a key file (see ParseKeys).
func LoadKeys(path string) (*KeySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	defer f.Close()
	return ParseKeys(f, path)
}

// Len is the number of keys.
func (k *KeySet) Len() int {
	if k == nil {
		return 0
	}
	return len(k.names)
}

// lookup finds key and returns its hash. The map is keyed by the hash, so
// the time a lookup takes says nothing about how close a wrong key was.
func (k *KeySet) lookup(key string) (hash []byte, name string, ok bool) {
	if k.Len() == 0 || key == "" {
		return nil, "", false
	}
	h := sha256.Sum256([]byte(key))
	name, ok = k.names[h]
	return h[:], name, ok
}
