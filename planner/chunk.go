package planner

// bufferAlign is WebGPU's required multiple for a storage buffer's size.
const bufferAlign = 4

// chunking is how one buffer is held under a binding limit.
type chunking struct {
	rowsPerChunk int64
	chunks       int64
	// largest is the size of the largest chunk, before padding.
	largest int64
	// padding rounds every chunk up to bufferAlign.
	padding int64
	// ok is false when a single row is larger than the limit.
	ok bool
}

func padTo(n int64) int64 { return (n + bufferAlign - 1) / bufferAlign * bufferAlign }

// split cuts b into chunks of whole rows, as equal as possible, each of
// which (padded) fits limit; limit 0 means no limit.
func split(b buffer, limit int64) chunking {
	whole := b.bytes()
	if limit <= 0 || padTo(whole) <= limit {
		return chunking{rowsPerChunk: b.rows, chunks: 1, largest: whole, padding: padTo(whole) - whole, ok: true}
	}
	maxRows := (limit / bufferAlign * bufferAlign) / b.rowBytes
	if maxRows == 0 {
		return chunking{}
	}
	chunks := (b.rows + maxRows - 1) / maxRows
	per := (b.rows + chunks - 1) / chunks
	last := b.rows - (chunks-1)*per
	full := per * b.rowBytes
	pad := (chunks-1)*(padTo(full)-full) + padTo(last*b.rowBytes) - last*b.rowBytes
	return chunking{rowsPerChunk: per, chunks: chunks, largest: full, padding: pad, ok: true}
}

// extra is the cost of a stage's buffers outside its blocks.
type extra struct {
	bytes, pad, read int64
	ok               bool
}

// limitClass holds what depends on a binding limit: padding and whether
// every row fits. Devices with the same limit share one.
type limitClass struct {
	limit int64
	pad   []int64 // prefix sums of block padding (weights and KV)
	bad   []int32 // prefix counts of blocks with a row over the limit
	// extras is indexed [first][last].
	extras [2][2]extra
}

// newLimitClass works out padding and fit of every block and extra.
func newLimitClass(p *profile, limit int64) *limitClass {
	c := &limitClass{limit: limit, pad: make([]int64, p.blocks+1), bad: make([]int32, p.blocks+1)}
	kvPad, kvOK := padOf(p.kv, limit)
	kvPad *= p.sessions()
	for i, bufs := range p.block {
		pad, ok := padOf(bufs, limit)
		c.pad[i+1] = c.pad[i] + pad + kvPad
		c.bad[i+1] = c.bad[i]
		if !ok || !kvOK {
			c.bad[i+1]++
		}
	}
	for f := range 2 {
		for l := range 2 {
			c.extras[f][l] = stageExtra(p, limit, f == 1, l == 1)
		}
	}
	return c
}

// padOf sums the padding of bufs and reports whether all of them fit.
func padOf(bufs []buffer, limit int64) (int64, bool) {
	var pad int64
	for _, b := range bufs {
		ch := split(b, limit)
		if !ch.ok {
			return 0, false
		}
		pad += ch.padding
	}
	return pad, true
}

// extraBuffers lists a stage's buffers outside its blocks.
func extraBuffers(p *profile, first, last bool) []buffer {
	bufs := append([]buffer{}, p.shared...)
	bufs = append(bufs, p.acts...)
	if first {
		bufs = append(bufs, p.embed...)
	}
	if last {
		bufs = append(bufs, p.headBuffers(first)...)
		bufs = append(bufs, p.logits...)
	}
	return bufs
}

// stageExtra is the cost of a stage's extras under limit.
func stageExtra(p *profile, limit int64, first, last bool) extra {
	bufs := extraBuffers(p, first, last)
	pad, ok := padOf(bufs, limit)
	e := extra{bytes: sumBytes(bufs), pad: pad, ok: ok, read: sumBytes(p.shared)}
	if first {
		e.read += p.embedRow
	}
	if last {
		e.read += sumBytes(p.head)
	}
	return e
}
