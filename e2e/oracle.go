package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tabshard/tabshard/worker"
)

// Oracle is llama2.c's output for one request, from the stories260K test
// data: the text after the prompt and the generated token ids.
type Oracle struct {
	Request Request
	Text    string
	IDs     []uint32
}

// GreedyOracle is "Once upon a time", temperature 0, 64 steps: 60 tokens
// after the 5 prompt positions (BOS + 4 tokens, the last one's step
// sampling the first generated token).
func GreedyOracle(dir string) (Oracle, error) {
	const prompt = "Once upon a time"
	text, ids, err := readOracle(dir, "once_upon_a_time_t0_n64")
	if err != nil {
		return Oracle{}, err
	}
	return Oracle{
		Request: Request{Name: "greedy", Prompt: prompt, MaxTokens: len(ids), Temperature: 0, TopP: 1},
		Text:    strings.TrimPrefix(text, prompt), IDs: ids,
	}, nil
}

// SampledOracle is llama2.c's sampled run with no prompt: temperature 1,
// top-p 0.9, seed 42, 100 steps. The API refuses an empty prompt, so the
// request replays the run's first four sampled tokens as the prompt
// "Once upon a time" (BOS 403 407 261 378: the same positions, the same
// inputs) and starts the generator where run.c had it after those four
// draws: the 96 tokens that follow are run.c's.
func SampledOracle(dir string) (Oracle, error) {
	const prompt = "Once upon a time"
	const skipped = 4
	text, ids, err := readOracle(dir, "noprompt_t1_p0.9_s42_n100")
	if err != nil {
		return Oracle{}, err
	}
	if !strings.HasPrefix(text, prompt) || len(ids) < skipped {
		return Oracle{}, fmt.Errorf("%s: the sampled run does not start with %q", dir, prompt)
	}
	rng := worker.RNG{State: 42}
	for range skipped {
		rng.Uint32()
	}
	return Oracle{
		Request: Request{Name: "sampled", Prompt: prompt, MaxTokens: len(ids) - skipped, Temperature: 1, TopP: 0.9, Seed: rng.State},
		Text:    strings.TrimPrefix(text, prompt), IDs: ids[skipped:],
	}, nil
}

// LongGreedyOracle is llama2.c's greedy run with no prompt, 200 steps: it
// starts with "Once upon a time", so it is that prompt and 196 tokens.
func LongGreedyOracle(dir string) (Oracle, error) {
	const prompt = "Once upon a time"
	b, err := os.ReadFile(filepath.Join(dir, "expected_greedy_t0_n200.txt"))
	if err != nil {
		return Oracle{}, err
	}
	return Oracle{
		Request: Request{Name: "greedy", Prompt: prompt, MaxTokens: 196, Temperature: 0, TopP: 1},
		Text:    strings.TrimPrefix(string(b), prompt),
	}, nil
}

// readOracle reads NAME.stdout.txt and the generated ids of NAME.ids.txt.
func readOracle(dir, name string) (string, []uint32, error) {
	text, err := os.ReadFile(filepath.Join(dir, name+".stdout.txt"))
	if err != nil {
		return "", nil, err
	}
	idsFile, err := os.ReadFile(filepath.Join(dir, name+".ids.txt"))
	if err != nil {
		return "", nil, err
	}
	var ids []uint32
	for _, line := range strings.Split(string(idsFile), "\n") {
		rest, ok := strings.CutPrefix(line, "generated_ids: ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rest) {
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return "", nil, fmt.Errorf("%s.ids.txt: %w", name, err)
			}
			ids = append(ids, uint32(n))
		}
	}
	if len(ids) == 0 {
		return "", nil, fmt.Errorf("%s.ids.txt: no generated_ids line", name)
	}
	return string(text), ids, nil
}
