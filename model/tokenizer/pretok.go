package tokenizer

import (
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// A pre-tokenizer cuts text into words before BPE merges run inside each
// word. Each one here is a hand-written scanner equal to a regular
// expression that Go's regexp cannot express (it has no lookahead); the
// expression is quoted above each scanner. Character classes follow
// Unicode: \p{L} is unicode.IsLetter, \p{N} unicode.IsNumber, \s the
// White_Space property (unicode.IsSpace). A byte that is not valid UTF-8 is
// a character of its own that is neither letter, number nor space.

// preTokenizer cuts text in stages, as llama.cpp's list of expressions
// and Hugging Face's Split(behavior=Isolated) sequences do: each stage
// cuts every piece the previous one made into its matches and the runs
// between them.
type preTokenizer struct {
	stages       []stage
	ignoreMerges bool // Llama-3: a word that is itself a token is not merged
	addBOS       bool // llama.cpp's default for tokenizer.ggml.add_bos_token
}

// stage is one expression: a scanner whose next returns where the word
// that starts at byte i of s ends (always past i), or a regular
// expression Go's regexp can express.
type stage struct {
	next func(s string, i int) int
	re   *regexp.Regexp
}

func scanner(next func(string, int) int) []stage { return []stage{{next: next}} }

// preTokenizerFor maps tokenizer.ggml.pre to its stages, with the names
// llama.cpp accepts for the same expressions.
func preTokenizerFor(name string) (preTokenizer, error) {
	switch name {
	case "", "default", "gpt-2", "gpt2", "phi-2", "mpt", "olmo":
		return preTokenizer{stages: scanner(gpt2Next)}, nil
	case "llama3", "llama-v3", "llama-bpe":
		return preTokenizer{stages: scanner(llama3Next), ignoreMerges: true, addBOS: true}, nil
	case "qwen2", "deepseek-r1-qwen":
		return preTokenizer{stages: scanner(qwen2Next)}, nil
	case "starcoder", "refact", "smollm", "codeshell":
		return preTokenizer{stages: starcoderStages}, nil
	case "falcon":
		return preTokenizer{stages: falconStages}, nil
	case "deepseek-coder":
		return preTokenizer{stages: deepseekCoderStages}, nil
	case "deepseek-llm":
		return preTokenizer{stages: deepseekLLMStages}, nil
	}
	return preTokenizer{}, fmt.Errorf("%w: pre-tokenizer %q (tokenizer.ggml.pre; known: llama-bpe, llama3, qwen2, gpt-2, default, mpt, starcoder, refact, falcon, deepseek-coder, deepseek-llm)", ErrUnsupported, name)
}

// split cuts s into its words.
func (p preTokenizer) split(s string) []string {
	words := []string{s}
	for _, st := range p.stages {
		var next []string
		for _, w := range words {
			next = st.cut(next, w)
		}
		words = next
	}
	return words
}

// cut appends the pieces of s to dst.
func (st stage) cut(dst []string, s string) []string {
	if st.re != nil {
		return cutMatches(dst, s, st.re)
	}
	for i := 0; i < len(s); {
		j := st.next(s, i)
		if j <= i { // cannot happen: every character starts some word
			_, n := utf8.DecodeRuneInString(s[i:])
			j = i + n
		}
		dst = append(dst, s[i:j])
		i = j
	}
	return dst
}

// cutMatches appends the matches of re in s and the runs between them.
func cutMatches(dst []string, s string, re *regexp.Regexp) []string {
	at := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		if m[0] == m[1] {
			continue
		}
		if m[0] > at {
			dst = append(dst, s[at:m[0]])
		}
		dst = append(dst, s[m[0]:m[1]])
		at = m[1]
	}
	if at < len(s) {
		dst = append(dst, s[at:])
	}
	return dst
}

// gpt2Next scans GPT-2's expression:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func gpt2Next(s string, i int) int {
	if j := contraction(s, i, false); j > i {
		return j
	}
	j := i
	if s[i] == ' ' {
		j++
	}
	for _, class := range []func(rune) bool{isLetter, isNumber, isOther} {
		if k := span(s, j, class, -1); k > j {
			return k
		}
	}
	return spaces(s, i)
}

// llama3Next scans Llama-3's expression (contractions case-insensitive):
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func llama3Next(s string, i int) int { return modernNext(s, i, 3) }

// qwen2Next scans Qwen2's expression, Llama-3's with single digits:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func qwen2Next(s string, i int) int { return modernNext(s, i, 1) }

func modernNext(s string, i, maxDigits int) int {
	if j := contraction(s, i, true); j > i {
		return j
	}
	if j := letterWord(s, i); j > i {
		return j
	}
	if j := span(s, i, isNumber, maxDigits); j > i {
		return j
	}
	if j := symbolWord(s, i); j > i {
		return j
	}
	if j := lineBreaks(s, i); j > i {
		return j
	}
	return spaces(s, i)
}

var contractions = []string{"s", "t", "re", "ve", "m", "ll", "d"}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at i, ignoring ASCII case
// when fold is set (llama.cpp folds ASCII only; so do we).
func contraction(s string, i int, fold bool) int {
	if s[i] != '\'' {
		return i
	}
	rest := s[i+1:]
	for _, c := range contractions {
		if len(rest) >= len(c) && sameLetters(rest[:len(c)], c, fold) {
			return i + 1 + len(c)
		}
	}
	return i
}

func sameLetters(a, lower string, fold bool) bool {
	for k := 0; k < len(a); k++ {
		c := a[k]
		if fold && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[k] {
			return false
		}
	}
	return true
}

// letterWord matches [^\r\n\p{L}\p{N}]?\p{L}+ at i.
func letterWord(s string, i int) int {
	r, n := utf8.DecodeRuneInString(s[i:])
	if isLetter(r) {
		return span(s, i, isLetter, -1)
	}
	if r == '\r' || r == '\n' || isNumber(r) {
		return i
	}
	if j := span(s, i+n, isLetter, -1); j > i+n {
		return j
	}
	return i
}

// symbolWord matches ` ?[^\s\p{L}\p{N}]+[\r\n]*` at i.
func symbolWord(s string, i int) int {
	j := i
	if s[i] == ' ' {
		j++
	}
	k := span(s, j, isOther, -1)
	if k == j {
		return i
	}
	return span(s, k, isLineBreak, -1)
}

// lineBreaks matches \s*[\r\n]+ at i: the whitespace run up to and
// including its last '\r' or '\n'.
func lineBreaks(s string, i int) int {
	end := i
	for j := i; j < len(s); {
		r, n := utf8.DecodeRuneInString(s[j:])
		if !isSpace(r) {
			break
		}
		j += n
		if isLineBreak(r) {
			end = j
		}
	}
	return end
}

// spaces matches \s+(?!\S)|\s+ at i, where s[i] starts whitespace: the run
// of whitespace, less its last character when a non-space follows and the
// run is longer than one (that character goes with the next word).
func spaces(s string, i int) int {
	end := span(s, i, isSpace, -1)
	if end == len(s) {
		return end
	}
	_, n := utf8.DecodeLastRuneInString(s[i:end])
	if end-n > i {
		return end - n
	}
	return end
}

// span returns the end of the run of characters in class starting at i,
// at most max characters long when max >= 0.
func span(s string, i int, class func(rune) bool, max int) int {
	for count := 0; i < len(s) && count != max; count++ {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !class(r) {
			break
		}
		i += n
	}
	return i
}

func isLetter(r rune) bool    { return unicode.IsLetter(r) }
func isNumber(r rune) bool    { return unicode.IsNumber(r) }
func isSpace(r rune) bool     { return unicode.IsSpace(r) }
func isLineBreak(r rune) bool { return r == '\r' || r == '\n' }

// isOther is [^\s\p{L}\p{N}]. An invalid byte decodes as U+FFFD, a symbol.
func isOther(r rune) bool { return !isLetter(r) && !isNumber(r) && !isSpace(r) }
