// Package planner decides which device runs which transformer blocks of a
// model: it splits the blocks into contiguous stages, one per device, that
// fit each device's memory and WebGPU limits, and balances them by
// predicted time. It is pure — a model description, devices and options
// in, a tabshard.v1.Plan or an *InfeasibleError out — with no I/O and no
// clocks, so the coordinator, the CLI and tests get the same answer.
//
// # Bytes
//
// Every byte count comes from the tensor types' block layouts
// (kernels.DType.RowBytes), never from bits × parameters. A stage holds
// its blocks' tensors, the token embedding on the first stage, the final
// norm and output head on the last (token_embd again when the head is
// tied), tensors outside blocks (rope_freqs) everywhere, the KV cache of
// its blocks and its activation buffers. Its peak is their sum plus the
// padding WebGPU needs to round every buffer to a multiple of 4 bytes.
//
// The KV cache holds Context positions per block, keys and values, in the
// KV type — or, with a sliding window W, min(Context, W+63) positions, as
// worker.NewKVCache allocates them (a windowed batch runs at most 64
// positions). Activation buffers are sized for a prefill batch of B
// positions in f32: the hidden state, its normalised copy, Q, K, V, the
// attention output, the two feed-forward halves, split attention's
// partials (per head and run of 64 cached keys: its maximum, sum and
// head-sized output) for as many of the B positions as
// MaxPrefillPartBytes holds (prefill's attention runs in passes of that
// many) and for DecodeSplitRows positions per session (decoding), the
// f16 activation received from the previous stage, and on the last
// stage B rows of logits.
//
// # The prefill batch
//
// B is one number from the plan to every stage: a WebGPU stage runs B
// positions a submission and sizes its buffers for them, and a worker
// cuts a prompt into pieces of B. Options.Batch sets it; left at 0 the
// planner chooses MaxPrefillBatch (256: a submission's fixed costs, about
// a millisecond of host round trip and a hundred dispatches a layer,
// become a few percent of it), fewer where a WebGPU device could not bind
// one of its activation buffers — each a single buffer of B rows, the
// largest the logits (Vocab×4 bytes a position) or the two feed-forward
// halves (FFNDim×8) — under min(maxStorageBufferBindingSize,
// maxBufferSize), and halved again while no plan fits the devices'
// memory. The plan's notes say when and why it is below 256.
//
// # Buffers and bindings
//
// Each tensor, each block's K and V cache and each activation buffer is a
// buffer of its own. A buffer larger than the device's binding limit —
// min(maxStorageBufferBindingSize, maxBufferSize) — is split into chunks
// of whole rows (equal but the last), each at most the limit; the plan
// lists every split. A row larger than the limit cannot be split: a device
// whose limit is below some row of a block cannot run that block.
//
// # Time
//
// Decoding reads every weight of a stage once per token, so a stage's
// time per token is
//
//	compute = (matrix bytes + KV bytes read at full context + one embedding row) / bandwidth
//	hop     = link latency + message bytes / link bandwidth
//	stage   = hop + compute
//
// where the message is the f16 hidden state (2·Dim bytes) from the
// previous stage's device, or for the first stage the sampled token (4
// bytes) at the first device's default link, since the sampling device is
// not known until the plan is; a plan of one stage has no hop. Bandwidth is the device's measured matvec
// bandwidth. With a stream of tokens in flight every stage is busy, so the
// pipeline's throughput is 1 / the slowest stage; one stream's token takes
// the sum of the stage times.
//
// # The objective and why the plan is optimal
//
// Devices come in pipeline order. A plan picks an increasing sequence of
// devices and cuts the blocks into as many contiguous ranges, the first
// of which (which may hold no block, only the embedding) and the last
// (which may hold only the head) carry the extras; every other stage holds
// at least one block. Plan minimises, lexicographically, (1) the slowest
// stage's time — the pipeline's throughput — and (2) the sum of stage
// times — the latency of one token — among plans whose every stage fits
// its device. It is solved exactly in two passes of dynamic programming
// over states (k, m): "blocks [0,m) are placed and the last stage so far
// is on device k":
//
//  1. B(k,m) = the least possible slowest stage. Because max is monotone,
//     B(k,m) = min over the previous state (j,l), j<k, l<m, of
//     max(B(j,l), hop(j,k) + compute(k,l,m)): optimal substructure holds,
//     and the optimum B* is read off the final states.
//  2. S(k,m) = the least sum of stage times over plans whose stages all
//     take at most B*; a sum with a per-stage bound is a shortest path in
//     a DAG. A lexicographic (max, sum) pair has no optimal substructure by
//     itself — a prefix with a smaller sum but larger bottleneck can win
//     once a later stage dominates both — which is why it takes two passes.
//
// Both passes consider every (j,l) → (k,m) transition, so they are exact;
// they are fast because, for a fixed (k,l), the stage time grows with m
// and memory fits for a prefix of m (found once per device with two
// pointers). In pass 1 only the predecessors on the Pareto front of
// (B(j,l), hop(j,k)) can be optimal and the best one moves monotonically
// along the front as m grows; in pass 2 the allowed predecessors are those
// with hop(j,k) ≤ B* − compute(k,l,m), a prefix of the predecessors
// sorted by hop that shrinks as m grows, so a running prefix minimum
// answers each m in amortised O(1). Both passes cost O(D²·L + D·L²) for
// D devices and L blocks; when every device's incoming hops are alike
// (links not given pairwise) the front is a single running minimum and
// they cost O(D·L²). With Options.Stages = S the states gain a layer per
// stage count, at S times the cost.
//
// The tests hold the passes to an exhaustive search on random small
// models and fleets, pairwise links and stage counts included.
//
// Proportional gives the split peers use — blocks in proportion to
// memory — costed by the same model, for comparison.
//
// Standbys (Options.Standby) are chosen after the partition: a standby of
// a stage is any other device whose spare memory (its budget less its own
// stage) holds the stage under the standby's own limits. A standby that
// covers several stages takes over one of them; the coordinator plans
// again after a promotion. If the optimal partition leaves no room for the
// standbys, Plan keeps 1, 2, … of the largest devices out of the partition
// and plans the rest again; the plan says which devices it reserved.
package planner
