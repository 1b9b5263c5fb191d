// Package gpu is tabshard's WebGPU backend: a small binding to the
// browser's (or Dawn's) WebGPU API over syscall/js, and a Stage that runs a
// shard's layers with the shaders of kernels/wgsl, weights and KV cache in
// GPU buffers. Stage implements agent.Compute; Loader builds one for a
// wasm worker and Detect reports the device's capabilities.
//
// The binding and the Stage exist only for GOOS=js GOARCH=wasm (files
// *_js.go). What does not touch JavaScript — planning a tensor's row
// chunks, packing kernel parameters, workgroup grids, RoPE tables — lives
// in files without build constraints and is tested natively.
//
// A forward pass is recorded once as a list of dispatches (pipeline and
// bind group pairs) and replayed each call with that call's workgroup
// counts (from its batch and position): one command encoder, one compute
// pass, one queue.submit per call, whatever the number of layers. A
// decoded Llama layer is ten dispatches: q/k/v and gate/up are stacked
// into one matrix each at load, and the kernels that produce a matvec's
// input (RMSNorm, SwiGLU, attention's merge) lay it out for the planar
// int8 matvec themselves.
//
// Every weight type of kernels/wgsl runs here (F32, F16, Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, the K-quants Q2_K … Q6_K, IQ4_NL and IQ4_XS), the quantized
// ones through the planar int8 matvec (dot4I8Packed); BF16 has no kernel,
// and NewWeights refuses it (wgsl.ErrUnsupported).
//
// Several vectors at once (decode batches, prefill) take the batched
// matvec, which reads each weight unit once for up to 16 of them with,
// per vector, the matvec's own arithmetic: a vector's result is bit for
// bit the same alone or in any batch. Stage.ForwardBatch (agent.Batcher)
// runs several sequences' steps as one pass over the weights, RoPE and
// attention per sequence over its own cache (batch_js.go).
//
// Attention is split over the keys: a workgroup per run of 64 keys a
// position sees, then a merge of the runs' partial softmaxes. Decoding
// takes a workgroup per (position, head, run) (attn_part.wgsl); a prefill
// takes the query heads that share a KV head in one workgroup
// (attn_part_group.wgsl), in passes of as many positions as the stage's
// partials buffer holds (64 MiB at most, shared by every cache). Each
// head's partial is the same arithmetic either way, so a prompt's hidden
// states are bit for bit those of decoding it one token at a time
// (TestPrefillMatchesDecoding). Options.OnePassPrefill records the
// one-pass attention prefill ran before (a workgroup per position and
// head walking every key), for comparison. A stage runs the plan's
// prefill batch of positions a submission (Loader, MaxBatchFor).
package gpu
