// Seeded weights made in place (package model/seeded defines them; this is
// the same integer arithmetic): one invocation per word of a run of
// rows as the GPU holds them — GGUF bytes, or the split layout of Q4_0,
// Q8_0 and Q6_K (a row's block scales first, then the rest of each block).
struct Gen {
  words: u32,       // words to write, from word base of the chunk
  bytes: u32,       // bytes of the rows they hold; past them, zeros
  row_bytes: u32,
  row_begin: u32,   // the tensor row of the first row written
  tensor_seed: u32,
  kind: u32,        // 0 blocks, 1 f16, 2 f32
  block_bytes: u32,
  split: u32,       // 1: split layout
  f0: u32,          // fp16 field offsets in a block (0xffffffff: none)
  f1: u32,
  e0: u32,          // their exponents (f16 or f32 biased)
  e1: u32,
  sign: u32,        // f16/f32: keep the random sign bit
  nb: u32,          // blocks per row (split)
  base: u32,        // the first word written (tensors stacked in a chunk)
  scale_at: u32,    // the block scale's offset in a GGUF block (split)
}

@group(0) @binding(0) var<storage, read_write> W: array<u32>;
@group(0) @binding(1) var<uniform> P: Gen;

fn hash(x: u32) -> u32 {
  let v = x * 747796405u + 2891336453u;
  let w = ((v >> ((v >> 28u) + 4u)) ^ v) * 277803737u;
  return (w >> 22u) ^ w;
}

// gguf_byte is byte p of a row's GGUF bytes, the row's seed rs.
fn gguf_byte(p: u32, rs: u32) -> u32 {
  var w = hash((p >> 2u) ^ rs);
  if (P.kind == 2u) {
    w = (w & (0x007fffffu | (P.sign << 31u))) | (P.e0 << 23u);
  } else if (P.kind == 1u) {
    var m = 0x03ffu | (P.sign << 15u);
    m = m | (m << 16u);
    w = (w & m) | (P.e0 << 10u) | (P.e0 << 26u);
  }
  var b = (w >> ((p & 3u) * 8u)) & 0xffu;
  if (P.kind == 0u) {
    let o = p % P.block_bytes;
    if (P.f0 != 0xffffffffu && o == P.f0 + 1u) {
      b = (b & 3u) | (P.e0 << 2u);
    }
    if (P.f1 != 0xffffffffu && o == P.f1 + 1u) {
      b = (b & 3u) | (P.e1 << 2u);
    }
  }
  return b;
}

// stored_byte is byte o of a row as the GPU holds it.
fn stored_byte(o: u32, rs: u32) -> u32 {
  if (P.split == 0u) {
    return gguf_byte(o, rs);
  }
  let bs = P.block_bytes;
  if (o < 2u * P.nb) {
    return gguf_byte((o >> 1u) * bs + P.scale_at + (o & 1u), rs);
  }
  let c = o - 2u * P.nb;
  let cb = bs - 2u;
  let k = c % cb;
  return gguf_byte((c / cb) * bs + select(k, k + 2u, k >= P.scale_at), rs);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.words) {
    return;
  }
  var word = 0u;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let q = i * 4u + j;
    if (q < P.bytes) {
      let row = q / P.row_bytes;
      let rs = hash((P.row_begin + row) ^ P.tensor_seed);
      word = word | (stored_byte(q % P.row_bytes, rs) << (j * 8u));
    }
  }
  W[P.base + i] = word;
}
