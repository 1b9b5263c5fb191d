package tokenizer

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

const storiesDir = "../../testdata/stories260K"

func TestSPMOnceUponATime(t *testing.T) {
	got := stories(t).Encode("Once upon a time")
	if want := []int{1, 403, 407, 261, 378}; !slices.Equal(got, want) {
		t.Fatalf("Encode = %v, want %v", got, want)
	}
}

func TestSPMEmptyIsBOS(t *testing.T) {
	if got := stories(t).Encode(""); !slices.Equal(got, []int{1}) {
		t.Fatalf("Encode(\"\") = %v, want [1]", got)
	}
}

func TestSPMByteFallbackIdsComeFromPieces(t *testing.T) {
	tok := stories(t)
	// '日' is not in the vocabulary: its three bytes become "<0xE6>" "<0x97>" "<0xA5>".
	got := tok.Encode("日")
	want := []int{1, 410, 0xE6 + 3, 0x97 + 3, 0xA5 + 3}
	if !slices.Equal(got, want) {
		t.Fatalf("Encode(日) = %v, want %v", got, want)
	}
}

// runCRecord is one llama2.c run: the prompt's bytes, its ids and the
// generated ids, from a *.ids.txt file, and what run.c printed.
type runCRecord struct {
	prompt    string
	promptIDs []int
	generated []int
	stdout    string
}

func readRunC(t *testing.T, name string) runCRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(storiesDir, name+".ids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rec runCRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		switch key {
		case "prompt_bytes_hex":
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(val), " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			rec.prompt = string(b)
		case "prompt_ids":
			rec.promptIDs = atois(t, val)
		case "generated_ids":
			rec.generated = atois(t, val)
		}
	}
	out, err := os.ReadFile(filepath.Join(storiesDir, name+".stdout.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rec.stdout = string(out)
	return rec
}

func atois(t *testing.T, s string) []int {
	t.Helper()
	var ids []int
	for _, f := range strings.Fields(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n)
	}
	return ids
}

var runCCases = []string{"once_upon_a_time_t0_n64", "noprompt_t1_p0.9_s42_n100"}

func TestSPMPromptIDsMatchRunC(t *testing.T) {
	tok := stories(t)
	for _, name := range runCCases {
		rec := readRunC(t, name)
		if got := tok.Encode(rec.prompt); !slices.Equal(got, rec.promptIDs) {
			t.Errorf("%s: Encode(%q) = %v, want %v", name, rec.prompt, got, rec.promptIDs)
		}
	}
}

// TestSPMPrintMatchesRunC replays run.c's loop: every token after BOS, the
// forced prompt tokens included, is printed as decode(prev, next) through
// safe_printf.
func TestSPMPrintMatchesRunC(t *testing.T) {
	tok := stories(t)
	for _, name := range runCCases {
		rec := readRunC(t, name)
		seq := append(slices.Clone(rec.promptIDs), rec.generated...)
		var printed []byte
		for k := 1; k < len(seq); k++ {
			printed = append(printed, SafePiece(tok.Piece(seq[k-1], seq[k]))...)
		}
		if string(printed) != rec.stdout {
			t.Errorf("%s: printed\n%q\nwant\n%q", name, printed, rec.stdout)
		}
		if got := tok.Decode(seq); got != rec.stdout {
			t.Errorf("%s: Decode = %q, want %q", name, got, rec.stdout)
		}
	}
}

func TestSPMRoundTripNonASCII(t *testing.T) {
	tok := stories(t)
	for _, s := range []string{"héllo 日本 🙂", " two  spaces\tand\nlines ", "ñ€™…", "\x00\x7f"} {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%q)) = %q (ids %v)", s, got, ids)
		}
	}
}

func TestSPMDecodeWithoutBOSKeepsSpace(t *testing.T) {
	tok := stories(t)
	if got := tok.Decode([]int{403, 407}); got != " Once upon" {
		t.Fatalf("Decode = %q, want %q", got, " Once upon")
	}
}

func TestSPMPiece(t *testing.T) {
	tok := stories(t)
	cases := []struct {
		prev, tok int
		want      string
	}{
		{1, 403, "Once"},    // leading space dropped after BOS
		{378, 403, " Once"}, // kept elsewhere
		{-1, 403, " Once"},  // and at the start without BOS
		{432, 13, "\n"},     // <0x0A> is a raw newline
		{432, 0xE6 + 3, "\xe6"},
		{432, 1, ""}, // control tokens print nothing
		{432, 2, ""},
		{432, 0, "<unk>"},
		{432, 512, ""}, // out of range
		{432, -1, ""},
	}
	for _, c := range cases {
		if got := string(tok.Piece(c.prev, c.tok)); got != c.want {
			t.Errorf("Piece(%d, %d) = %q, want %q", c.prev, c.tok, got, c.want)
		}
	}
}

func TestSafePiece(t *testing.T) {
	cases := map[string]string{
		"a": "a", "\n": "\n", "\t": "\t", " ": " ", "\x00": "", "\x07": "", "\x7f": "",
		"\xe6": "\xe6", "ab\x07": "ab\x07", "": "",
	}
	for in, want := range cases {
		if got := string(SafePiece([]byte(in))); got != want {
			t.Errorf("SafePiece(%q) = %q, want %q", in, got, want)
		}
	}
}

// runCEncode is run.c's encoder transcribed literally (quadratic, string
// concatenation), the reference the heap-based encoder must equal.
func runCEncode(tok *Tokenizer, text string) []int {
	ids := []int{tok.bos}
	if text == "" {
		return ids
	}
	syms := tok.spmChar(nil, " ")
	for i := 0; i < len(text); {
		n := runCharLen(text[i:])
		syms = tok.spmChar(syms, text[i:i+n])
		i += n
	}
	for {
		best, bestID, bestIdx := float32(-1e10), -1, -1
		for i := 0; i+1 < len(syms); i++ {
			id, ok := tok.ids[tok.text[syms[i]]+tok.text[syms[i+1]]]
			if ok && tok.spm.scores[id] > best {
				best, bestID, bestIdx = tok.spm.scores[id], id, i
			}
		}
		if bestIdx < 0 {
			return append(ids, syms...)
		}
		syms[bestIdx] = bestID
		syms = slices.Delete(syms, bestIdx+1, bestIdx+2)
	}
}

func TestSPMEqualsRunCLoop(t *testing.T) {
	tok := stories(t)
	for _, s := range []string{"Once upon a time", "Lily's mom said, \"Lily, let's go to the park.\"", "aaaaaaaa", "the the the", "  x  "} {
		if got, want := tok.Encode(s), runCEncode(tok, s); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, run.c loop gives %v", s, got, want)
		}
	}
}

func FuzzSPMRoundTrip(f *testing.F) {
	for _, s := range []string{"", "Once upon a time", "héllo 日本 🙂", "  \n\t", "\xff\xfe", "Lily's"} {
		f.Add(s)
	}
	tok := stories(f)
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if want := runCEncode(tok, s); !slices.Equal(ids, want) {
			t.Fatalf("Encode(%q) = %v, run.c loop gives %v", s, ids, want)
		}
		if !utf8.ValidString(s) {
			return
		}
		if got := tok.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
	})
}
