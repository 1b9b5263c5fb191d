// RoPE and KV store for the S.n positions of a batch. Invocation
// (tok, head, i) handles dimensions (a, b) of one head: for i < ROT (the
// rotated pairs) a = 2i, b = 2i+1, or i and i+ROT in NeoX style, rotated by
// the angle whose cosine and sine are CS[tok][i]; past ROT the pair
// 2i, 2i+1 is not rotated. Query heads are rotated in place; key heads are
// rotated into the cache slot of their position, and values copied there.
// The cosines and sines come from the host, computed as the Go reference
// computes them: GPU sin/cos lose accuracy at large angles.
struct Rope {
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  rot: u32,
  neox: u32,
  q_stride: u32,
  kv_stride: u32,
  slots: u32,
}

@group(0) @binding(0) var<storage, read_write> Q: array<f32>;
@group(0) @binding(1) var<storage, read> K: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read_write> KC: array<f32>;
@group(0) @binding(4) var<storage, read_write> VC: array<f32>;
@group(0) @binding(5) var<storage, read> CS: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> P: Rope;
@group(0) @binding(7) var<uniform> S: Step;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let half = P.head_dim / 2u;
  let per_tok = (P.heads + P.kv_heads) * half;
  let idx = gid.x + gid.y * nwg.x * 64u;
  let tok = idx / per_tok;
  if (tok >= S.n) {
    return;
  }
  let h = (idx % per_tok) / half;
  let i = idx % half;
  var a = 2u * i;
  var b = a + 1u;
  if (i < P.rot && P.neox != 0u) {
    a = i;
    b = i + P.rot;
  }
  let cs = CS[tok * P.rot + min(i, P.rot - 1u)];
  if (h < P.heads) {
    if (i < P.rot) {
      let base = tok * P.q_stride + h * P.head_dim;
      let x0 = Q[base + a];
      let x1 = Q[base + b];
      Q[base + a] = x0 * cs.x - x1 * cs.y;
      Q[base + b] = x0 * cs.y + x1 * cs.x;
    }
    return;
  }
  let kh = h - P.heads;
  let src = tok * P.kv_stride + kh * P.head_dim;
  let dst = ((S.pos + tok) % P.slots) * P.kv_stride + kh * P.head_dim;
  let x0 = K[src + a];
  let x1 = K[src + b];
  if (i < P.rot) {
    KC[dst + a] = x0 * cs.x - x1 * cs.y;
    KC[dst + b] = x0 * cs.y + x1 * cs.x;
  } else {
    KC[dst + a] = x0;
    KC[dst + b] = x1;
  }
  VC[dst + a] = V[src + a];
  VC[dst + b] = V[src + b];
}
