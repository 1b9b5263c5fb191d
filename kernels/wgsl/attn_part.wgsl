// Split attention, first pass: one workgroup per (position, head, split),
// a split being AWG consecutive keys of those the query sees, so that a
// long context spreads over many workgroups (a decoded token has one query
// per head). Each invocation scores one key with vec4 loads; the split's
// maximum score m, sum of exponentials l and unnormalised output o go to
// Part as [m, l, o...] (head_dim + 2 values); attn_merge.wgsl combines
// the splits. Query head h reads KV head h / (heads / kv_heads).
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> KC: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> VC: array<f32>;
@group(0) @binding(3) var<storage, read_write> Part: array<f32>;
@group(0) @binding(4) var<uniform> P: Attn;
@group(0) @binding(5) var<uniform> S: Step;

var<workgroup> qs: array<vec4<f32>, HD4>;
var<workgroup> ps: array<f32, AWG>;

@compute @workgroup_size(AWG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let l = wid.x + wid.y * nwg.x;
  // The dispatch takes rows positions from P.row0, with as many splits
  // per (position, head) as the last of them sees keys (ops'
  // RopeShape.splits); P.splits, the most the cache holds, spaces the
  // partials.
  let rows = batch_rows();
  let splits = (visible(S.pos + P.row0 + rows - 1u).y + AWG - 1u) / AWG;
  let split = l % splits;
  let th = l / splits; // (position within the dispatch, head)
  if (th / P.heads >= rows) {
    return;
  }
  let tok = P.row0 + th / P.heads;
  let h = th % P.heads;
  let kh = h / (P.heads / P.kv_heads);
  let hd = P.head_dim;
  let seen = visible(S.pos + tok);
  let first = seen.x;
  let count = seen.y;
  let c0 = split * AWG;
  if (c0 >= count) {
    return; // past the keys this query sees: the merge reads no further
  }
  let qb = (S.row + tok) * P.q_stride + h * hd;
  for (var d = li; d < hd / 4u; d += AWG) {
    qs[d] = vec4<f32>(Q[qb + 4u * d], Q[qb + 4u * d + 1u], Q[qb + 4u * d + 2u], Q[qb + 4u * d + 3u]);
  }
  workgroupBarrier();
  let valid = c0 + li < count;
  var s = -3.0e38;
  if (valid) {
    let kb = (((first + c0 + li) % P.slots) * P.kv_stride + kh * hd) / 4u;
    var acc = vec4<f32>(0.0);
    for (var d = 0u; d < hd / 4u; d++) {
      acc += qs[d] * KC[kb + d];
    }
    s = (acc.x + acc.y + acc.z + acc.w) / P.scale;
  }
  let m = wg_max(s, li);
  var e = 0.0;
  if (valid) {
    e = exp(s - m);
  }
  ps[li] = e;
  let total = wg_sum(e, li);
  let chunk = min(AWG, count - c0);
  let base = (th * P.splits + split) * (hd + 2u);
  for (var j = 0u; j < DPT; j++) {
    let d = li + AWG * j;
    if (d < hd) {
      var acc = 0.0;
      for (var t = 0u; t < chunk; t++) {
        acc += ps[t] * VC[((first + c0 + t) % P.slots) * P.kv_stride + kh * hd + d];
      }
      Part[base + 2u + d] = acc;
    }
  }
  if (li == 0u) {
    Part[base] = m;
    Part[base + 1u] = total;
  }
}
