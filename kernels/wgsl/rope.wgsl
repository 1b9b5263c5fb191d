// RoPE and KV store for the S.n positions of a batch. Invocation
// (tok, head, i) handles dimensions (a, b) of one head: for i < ROT (the
// rotated pairs) a = 2i, b = 2i+1, or i and i+ROT in NeoX style, rotated by
// the angle whose cosine and sine are CS[tok][i]; past ROT the pair
// 2i, 2i+1 is not rotated. The input QKV holds each position's q, k and v
// side by side (one matvec's output over their stacked rows). Query heads
// are rotated into Q; key heads are rotated into the cache slot of their
// position, and values copied there.
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
  src_stride: u32, // q_stride + 2 kv_stride
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<storage, read> QKV: array<f32>;
@group(0) @binding(1) var<storage, read_write> Q: array<f32>;
@group(0) @binding(2) var<storage, read_write> KC: array<f32>;
@group(0) @binding(3) var<storage, read_write> VC: array<f32>;
@group(0) @binding(4) var<storage, read> CS: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> P: Rope;
@group(0) @binding(6) var<uniform> S: Step;

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
  let cs = CS[(S.row + tok) * P.rot + min(i, P.rot - 1u)];
  let row = (S.row + tok) * P.src_stride;
  if (h < P.heads) {
    let src = row + h * P.head_dim;
    let dst = (S.row + tok) * P.q_stride + h * P.head_dim;
    let x0 = QKV[src + a];
    let x1 = QKV[src + b];
    if (i < P.rot) {
      let r = rotate(x0, x1, cs);
      Q[dst + a] = r.x;
      Q[dst + b] = r.y;
    } else {
      Q[dst + a] = x0;
      Q[dst + b] = x1;
    }
    return;
  }
  let kh = h - P.heads;
  let src = row + P.q_stride + kh * P.head_dim;
  let vsrc = src + P.kv_stride;
  let dst = ((S.pos + tok) % P.slots) * P.kv_stride + kh * P.head_dim;
  let x0 = QKV[src + a];
  let x1 = QKV[src + b];
  if (i < P.rot) {
    let r = rotate(x0, x1, cs);
    KC[dst + a] = r.x;
    KC[dst + b] = r.y;
  } else {
    KC[dst + a] = x0;
    KC[dst + b] = x1;
  }
  VC[dst + a] = QKV[vsrc + a];
  VC[dst + b] = QKV[vsrc + b];
}
