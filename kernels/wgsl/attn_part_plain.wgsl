// The plain first pass's hooks (see attn_part.wgsl): q rotated by the
// RoPE kernel, keys and values from the caches, which RoPE filled.
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> KC: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> VC: array<f32>;

// query4 is values 4·d4 to 4·d4+3 of head h's query at batch position tok.
fn query4(tok: u32, h: u32, d4: u32) -> vec4<f32> {
  let qb = (S.row + tok) * P.q_stride + h * P.head_dim + 4u * d4;
  return vec4<f32>(Q[qb], Q[qb + 1u], Q[qb + 2u], Q[qb + 3u]);
}

// stage_keys prepares what key4 reads of the keys at positions [k0, k1)
// (the workgroup's split), before the barrier that follows.
fn stage_keys(k0: u32, k1: u32, kh: u32, li: u32) {}

// key4 is values 4·d4 to 4·d4+3 of KV head kh's key at position kp.
fn key4(kp: u32, kh: u32, d4: u32) -> vec4<f32> {
  return KC[((kp % P.slots) * P.kv_stride + kh * P.head_dim) / 4u + d4];
}

// value is value d of KV head kh's value at position kp.
fn value(kp: u32, kh: u32, d: u32) -> f32 {
  return VC[(kp % P.slots) * P.kv_stride + kh * P.head_dim + d];
}

// part_done runs at the end of each workgroup that scored keys; own says
// whether its split holds the key of its query's position.
fn part_done(tok: u32, h: u32, kh: u32, own: bool, li: u32) {}
