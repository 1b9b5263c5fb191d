package synth_test

import (
	"path/filepath"
	"testing"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/model/synth"
	"github.com/tabshard/tabshard/worker"
)

// BenchmarkDecode measures one-token decode steps of a whole model on the
// CPU, positions cycling through the first 128: the work behind `tabshard
// generate`'s decode tokens/s, in a form `go test -cpuprofile` can profile.
// The bundled stories260K is the trained reference; the stories110M case
// writes a 537 MB synthetic file to a temporary folder first.
func BenchmarkDecode(b *testing.B) {
	synthetic := func(s synth.Spec) func(b *testing.B) (*model.Model, error) {
		return func(b *testing.B) (*model.Model, error) {
			path := filepath.Join(b.TempDir(), "m.gguf")
			if err := synth.Write(path, s, 1); err != nil {
				return nil, err
			}
			return model.Open(path)
		}
	}
	for _, c := range []struct {
		name string
		open func(b *testing.B) (*model.Model, error)
	}{
		{"stories260K", func(*testing.B) (*model.Model, error) { return bundled.Open() }},
		{"tiny", synthetic(synth.Tiny)},
		{"stories110M", synthetic(synth.Stories110M)},
	} {
		b.Run(c.name, func(b *testing.B) {
			m, err := c.open(b)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			decode(b, m)
		})
	}
}

func decode(b *testing.B, m *model.Model) {
	positions := min(128, m.Config.ContextLength)
	p, err := worker.Load(m, positions)
	if err != nil {
		b.Fatal(err)
	}
	tok, pos := m.Tokenizer.BOS(), 0
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Run([]int{tok}, pos, false); err != nil {
			b.Fatal(err)
		}
		tok, pos = 300+pos, (pos+1)%positions
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
