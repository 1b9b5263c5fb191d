package worker

import (
	"fmt"
	"math"

	"github.com/tabshard/tabshard/kernels"
)

// Agreement measures how closely a candidate model follows a reference on
// one token sequence: at every position, whether their most likely next
// tokens agree, and the Kullback-Leibler divergence of the candidate's
// next-token distribution from the reference's.
type Agreement struct {
	Positions int
	Top1      int     // positions whose argmax agrees
	MeanKL    float64 // nats
	MaxKL     float64
}

// Top1Rate is the fraction of positions whose argmax agrees.
func (a Agreement) Top1Rate() float64 { return float64(a.Top1) / float64(a.Positions) }

// Compare runs tokens through both pipelines (teacher forcing: every
// position sees the given tokens) and measures their agreement.
func Compare(ref, cand *Pipeline, tokens []int) (Agreement, error) {
	if ref.cfg.Vocab != cand.cfg.Vocab {
		return Agreement{}, fmt.Errorf("%w: vocabularies of %d and %d tokens", ErrShape, ref.cfg.Vocab, cand.cfg.Vocab)
	}
	a, err := ref.Run(tokens, 0, true)
	if err != nil {
		return Agreement{}, fmt.Errorf("reference: %w", err)
	}
	b, err := cand.Run(tokens, 0, true)
	if err != nil {
		return Agreement{}, fmt.Errorf("candidate: %w", err)
	}
	v := ref.cfg.Vocab
	var ag Agreement
	for pos := range tokens {
		p, q := a[pos*v:(pos+1)*v], b[pos*v:(pos+1)*v]
		if kernels.Argmax(p) == kernels.Argmax(q) {
			ag.Top1++
		}
		kl := klDivergence(p, q)
		ag.MeanKL += kl
		ag.MaxKL = math.Max(ag.MaxKL, kl)
		ag.Positions++
	}
	ag.MeanKL /= float64(ag.Positions)
	return ag, nil
}

// klDivergence is KL(softmax(p) || softmax(q)) in nats, computed in float64
// from the logits.
func klDivergence(p, q []float32) float64 {
	lp, lq := logSoftmax(p), logSoftmax(q)
	var kl float64
	for i := range lp {
		kl += math.Exp(lp[i]) * (lp[i] - lq[i])
	}
	return math.Max(kl, 0)
}

func logSoftmax(x []float32) []float64 {
	maxv := float64(x[kernels.Argmax(x)])
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v) - maxv)
	}
	lse := maxv + math.Log(sum)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - lse
	}
	return out
}
