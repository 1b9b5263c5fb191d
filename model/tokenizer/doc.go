// Package tokenizer turns text into token ids and back for the Llama-family
// models tabshard runs, built from the tokenizer metadata a GGUF file carries
// (tokenizer.ggml.*).
//
// Two kinds are supported:
//
//   - KindSPM (tokenizer.ggml.model "llama"): SentencePiece-style score
//     merges with byte fallback, encoded exactly as llama2.c's run.c encodes
//     a prompt — the oracle for the bundled stories260K model. GGUF stores
//     SentencePiece pieces with U+2581 ("▁") for a space; this package reads
//     them as spaces, as run.c's tokenizer.bin does.
//   - KindBPE (tokenizer.ggml.model "gpt2"): GPT-2 byte-level BPE with ranked
//     merges, as used by Llama-3 and Qwen2, split first by the pre-tokenizer
//     that tokenizer.ggml.pre names ("llama-bpe", "qwen2", "gpt-2", ...).
//
// Encode treats its input as plain text: special and control tokens such as
// "<s>" or "<|begin_of_text|>" are not recognised inside it, so a prompt can
// never smuggle them in; callers add them by id. No Unicode normalisation
// (NFC or otherwise) is applied, matching llama.cpp rather than Hugging Face
// tokenizers.
//
// Decode and StreamDecoder assemble token bytes into UTF-8, holding back an
// incomplete sequence until its continuation bytes arrive; Piece and
// SafePiece reproduce what run.c prints token by token.
package tokenizer
