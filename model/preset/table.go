package preset

import "github.com/tabshard/tabshard/model"

// table holds the published shapes. Sources: each model's config.json
// (Meta-Llama-3-8B/70B, Qwen2-*-Instruct, Mistral-7B-v0.1) and llama2.c's
// tinyllamas checkpoints. Qwen2's context is the native 32768 positions
// of the Instruct releases; longer contexts need YaRN scaling.
var table = []Preset{
	{
		Name: "llama-3-70b", Title: "Meta-Llama-3-70B", Arch: model.ArchLlama,
		Layers: 80, Dim: 8192, FFNDim: 28672, Heads: 64, KVHeads: 8, Vocab: 128256,
		Context: 8192, RopeBase: 500000, NormEps: 1e-5,
	},
	{
		Name: "llama-3-8b", Title: "Meta-Llama-3-8B", Arch: model.ArchLlama,
		Layers: 32, Dim: 4096, FFNDim: 14336, Heads: 32, KVHeads: 8, Vocab: 128256,
		Context: 8192, RopeBase: 500000, NormEps: 1e-5,
	},
	{
		Name: "qwen2-72b", Title: "Qwen2-72B", Arch: model.ArchQwen2,
		Layers: 80, Dim: 8192, FFNDim: 29568, Heads: 64, KVHeads: 8, Vocab: 152064,
		Context: 32768, RopeBase: 1e6, NormEps: 1e-6, QKVBias: true,
	},
	{
		Name: "qwen2-7b", Title: "Qwen2-7B", Arch: model.ArchQwen2,
		Layers: 28, Dim: 3584, FFNDim: 18944, Heads: 28, KVHeads: 4, Vocab: 152064,
		Context: 32768, RopeBase: 1e6, NormEps: 1e-6, QKVBias: true,
	},
	{
		Name: "qwen2-0.5b", Title: "Qwen2-0.5B", Arch: model.ArchQwen2,
		Layers: 24, Dim: 896, FFNDim: 4864, Heads: 14, KVHeads: 2, Vocab: 151936,
		Context: 32768, RopeBase: 1e6, NormEps: 1e-6, QKVBias: true, TiedOutput: true,
	},
	{
		// llama.cpp's converter writes Mistral as "llama" (it has no
		// "mistral" architecture); its sliding window goes in as
		// llama.attention.sliding_window, which llama.cpp ignores.
		Name: "mistral-7b", Title: "Mistral-7B-v0.1", Arch: model.ArchLlama,
		Layers: 32, Dim: 4096, FFNDim: 14336, Heads: 32, KVHeads: 8, Vocab: 32000,
		Context: 32768, RopeBase: 10000, NormEps: 1e-5, SlidingWindow: 4096,
	},
	{
		Name: "stories110m", Title: "tinyllamas-stories-110m", Arch: model.ArchLlama,
		Layers: 12, Dim: 768, FFNDim: 2048, Heads: 12, KVHeads: 12, Vocab: 32000,
		Context: 1024, RopeBase: 10000, NormEps: 1e-5,
	},
	{
		Name: "stories15m", Title: "tinyllamas-stories-15m", Arch: model.ArchLlama,
		Layers: 6, Dim: 288, FFNDim: 768, Heads: 6, KVHeads: 6, Vocab: 32000,
		Context: 256, RopeBase: 10000, NormEps: 1e-5,
	},
	{
		Name: "stories260k", Title: "tinyllamas-stories-260k", Arch: model.ArchLlama,
		Layers: 5, Dim: 64, FFNDim: 172, Heads: 8, KVHeads: 4, Vocab: 512,
		Context: 512, RopeBase: 10000, NormEps: 1e-5,
	},
}
