// The first pass's hooks with RoPE's work folded in (see attn_part.wgsl
// and rope.wgsl), one dispatch instead of two: q, k and v come side by
// side per batch row as the q/k/v matvec wrote them (QKV, R.src_stride
// values a row), read through qkv(i): QKV[i] (attn_rope_in.wgsl), or
// QKV[i] plus its bias (attn_rope_bias.wgsl, as bias.wgsl adds it: one
// dispatch fewer again). The query is rotated as it is loaded; the keys
// of the batch's own positions (from S.pos) are rotated from QKV as they
// are scored and their values read from QKV, the older ones come from
// the caches. The workgroup of the first query head of each KV head
// whose split holds its own position's key stores that key, rotated, and
// value in the caches: each new entry has one writer, and no workgroup
// of the dispatch reads the slots written (a windowed cache has room for
// a batch past the window). The rotation is rope.wgsl's (rope_rot.wgsl).
struct RopeIn {
  rot: u32,
  neox: u32,
  src_stride: u32, // q_stride + 2 kv_stride
  pad0: u32,
}

@group(0) @binding(0) var<storage, read> QKV: array<f32>;
@group(0) @binding(1) var<storage, read_write> KC: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> VC: array<f32>;
@group(0) @binding(6) var<storage, read> CS: array<vec2<f32>>;
@group(0) @binding(7) var<uniform> R: RopeIn;

// rotated is value e of the head whose values start at qkv(src), rotated
// by the angles of batch row row: pair (2i, 2i+1), or (i, i+rot) in NeoX
// style, for i < rot; the values past the rotated pairs as they are.
fn rotated(src: u32, e: u32, row: u32) -> f32 {
  if (e >= 2u * R.rot) {
    return qkv(src + e);
  }
  var i = e / 2u;
  var partner = e ^ 1u;
  var lead = (e & 1u) == 0u;
  if (R.neox != 0u) {
    lead = e < R.rot;
    i = select(e - R.rot, e, lead);
    partner = select(e - R.rot, e + R.rot, lead);
  }
  let cs = CS[row * R.rot + i];
  if (lead) {
    return rotate(qkv(src + e), qkv(src + partner), cs).x;
  }
  return rotate(qkv(src + partner), qkv(src + e), cs).y;
}

fn rotated4(src: u32, d4: u32, row: u32) -> vec4<f32> {
  let e = 4u * d4;
  return vec4<f32>(rotated(src, e, row), rotated(src, e + 1u, row), rotated(src, e + 2u, row), rotated(src, e + 3u, row));
}

// key_src is where KV head kh's key at batch row row starts in QKV.
fn key_src(row: u32, kh: u32) -> u32 {
  return row * R.src_stride + P.q_stride + kh * P.head_dim;
}

fn query4(tok: u32, h: u32, d4: u32) -> vec4<f32> {
  let row = S.row + tok;
  return rotated4(row * R.src_stride + h * P.head_dim, d4, row);
}

// The batch's own keys in the split (at most NK, the most positions a
// dispatch takes: a header constant), rotated by the whole workgroup
// before scoring: decoding's new key costs each invocation a few values,
// not one invocation the head's; the writer stores them as scored.
var<workgroup> nk: array<vec4<f32>, NK * HD4>;
var<private> nk_from: u32;

fn stage_keys(k0: u32, k1: u32, kh: u32, li: u32) {
  nk_from = max(k0, S.pos);
  if (nk_from >= k1) {
    return;
  }
  let m = min(k1 - nk_from, NK);
  for (var i = li; i < m * HD4; i += AWG) {
    let row = S.row + nk_from + i / HD4 - S.pos;
    nk[i] = rotated4(key_src(row, kh), i % HD4, row);
  }
}

fn key4(kp: u32, kh: u32, d4: u32) -> vec4<f32> {
  if (kp >= S.pos) {
    return nk[min(kp - nk_from, NK - 1u) * HD4 + d4];
  }
  return KC[((kp % P.slots) * P.kv_stride + kh * P.head_dim) / 4u + d4];
}

fn value(kp: u32, kh: u32, d: u32) -> f32 {
  if (kp >= S.pos) {
    return qkv(key_src(S.row + kp - S.pos, kh) + P.kv_stride + d);
  }
  return VC[(kp % P.slots) * P.kv_stride + kh * P.head_dim + d];
}

fn part_done(tok: u32, h: u32, kh: u32, own: bool, li: u32) {
  if (!own || h % (P.heads / P.kv_heads) != 0u) {
    return;
  }
  let src = key_src(S.row + tok, kh);
  let dst = ((S.pos + tok) % P.slots) * P.kv_stride + kh * P.head_dim;
  let staged = min(S.pos + tok - nk_from, NK - 1u) * HD4;
  for (var d = li; d < HD4; d += AWG) {
    KC[dst / 4u + d] = nk[staged + d];
  }
  for (var d = li; d < P.head_dim; d += AWG) {
    VC[dst + d] = qkv(src + P.kv_stride + d);
  }
}
