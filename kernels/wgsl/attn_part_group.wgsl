// Split attention's first pass for many positions at once (prefill): as
// attn_part.wgsl, but a workgroup takes GQ query heads that read the same
// KV head, so each key and value it loads serves GQ heads (grouped-query
// models read a KV head for 4 or 8 query heads). One workgroup per
// (position, group of GQ heads, split of AWG keys). Each head's partial
// is bit for bit attn_part.wgsl's: the same products summed in the same
// order, and the same reduction trees (one per head, side by side), so a
// prefill's attention equals that of its positions decoded one by one.
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> KC: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> VC: array<f32>;
@group(0) @binding(3) var<storage, read_write> Part: array<f32>;
@group(0) @binding(4) var<uniform> P: Attn;
@group(0) @binding(5) var<uniform> S: Step;

var<workgroup> gq: array<vec4<f32>, HD4 * GQ>;
var<workgroup> gp: array<f32, AWG * GQ>;
var<workgroup> gred: array<f32, AWG * GQ>;

// group_max and group_sum are wg_max and wg_sum (attn_common.wgsl) of GQ
// values at once, head g's over gred[g*AWG ..]: the same tree per head.
fn group_max(v: array<f32, GQ>, li: u32) -> array<f32, GQ> {
  for (var g = 0u; g < GQ; g++) {
    gred[g * AWG + li] = v[g];
  }
  workgroupBarrier();
  for (var s = AWG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      for (var g = 0u; g < GQ; g++) {
        gred[g * AWG + li] = max(gred[g * AWG + li], gred[g * AWG + li + s]);
      }
    }
    workgroupBarrier();
  }
  var r: array<f32, GQ>;
  for (var g = 0u; g < GQ; g++) {
    r[g] = gred[g * AWG];
  }
  workgroupBarrier();
  return r;
}

fn group_sum(v: array<f32, GQ>, li: u32) -> array<f32, GQ> {
  for (var g = 0u; g < GQ; g++) {
    gred[g * AWG + li] = v[g];
  }
  workgroupBarrier();
  for (var s = AWG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      for (var g = 0u; g < GQ; g++) {
        gred[g * AWG + li] += gred[g * AWG + li + s];
      }
    }
    workgroupBarrier();
  }
  var r: array<f32, GQ>;
  for (var g = 0u; g < GQ; g++) {
    r[g] = gred[g * AWG];
  }
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(AWG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let l = wid.x + wid.y * nwg.x;
  let rows = batch_rows();
  let splits = (visible(S.pos + P.row0 + rows - 1u).y + AWG - 1u) / AWG;
  let split = l % splits;
  let groups = P.heads / GQ;
  let tg = l / splits; // (position within the dispatch, group of heads)
  let tl = tg / groups;
  if (tl >= rows) {
    return;
  }
  let h0 = (tg % groups) * GQ;
  let kh = h0 / (P.heads / P.kv_heads);
  let hd = P.head_dim;
  let tok = P.row0 + tl;
  let seen = visible(S.pos + tok);
  let first = seen.x;
  let count = seen.y;
  let c0 = split * AWG;
  if (c0 >= count) {
    return; // past the keys this query sees: the merge reads no further
  }
  let hd4 = hd / 4u;
  for (var i = li; i < GQ * hd4; i += AWG) {
    let qb = (S.row + tok) * P.q_stride + (h0 + i / hd4) * hd + 4u * (i % hd4);
    gq[(i / hd4) * HD4 + i % hd4] = vec4<f32>(Q[qb], Q[qb + 1u], Q[qb + 2u], Q[qb + 3u]);
  }
  workgroupBarrier();
  let valid = c0 + li < count;
  var s: array<f32, GQ>;
  for (var g = 0u; g < GQ; g++) {
    s[g] = -3.0e38;
  }
  if (valid) {
    let kb = (((first + c0 + li) % P.slots) * P.kv_stride + kh * hd) / 4u;
    var acc: array<vec4<f32>, GQ>;
    for (var g = 0u; g < GQ; g++) {
      acc[g] = vec4<f32>(0.0);
    }
    for (var d = 0u; d < hd4; d++) {
      let k = KC[kb + d];
      for (var g = 0u; g < GQ; g++) {
        acc[g] += gq[g * HD4 + d] * k;
      }
    }
    for (var g = 0u; g < GQ; g++) {
      s[g] = (acc[g].x + acc[g].y + acc[g].z + acc[g].w) / P.scale;
    }
  }
  let m = group_max(s, li);
  var e: array<f32, GQ>;
  for (var g = 0u; g < GQ; g++) {
    e[g] = 0.0;
    if (valid) {
      e[g] = exp(s[g] - m[g]);
    }
    gp[g * AWG + li] = e[g];
  }
  let total = group_sum(e, li);
  let chunk = min(AWG, count - c0);
  for (var j = 0u; j < DPT; j++) {
    let d = li + AWG * j;
    if (d < hd) {
      var acc: array<f32, GQ>;
      for (var g = 0u; g < GQ; g++) {
        acc[g] = 0.0; // (a var in a loop is zero each time round, but not in every compiler)
      }
      for (var t = 0u; t < chunk; t++) {
        let v = VC[((first + c0 + t) % P.slots) * P.kv_stride + kh * hd + d];
        for (var g = 0u; g < GQ; g++) {
          acc[g] += gp[g * AWG + t] * v;
        }
      }
      for (var g = 0u; g < GQ; g++) {
        Part[((tl * P.heads + h0 + g) * P.splits + split) * (hd + 2u) + 2u + d] = acc[g];
      }
    }
  }
  if (li == 0u) {
    for (var g = 0u; g < GQ; g++) {
      let base = ((tl * P.heads + h0 + g) * P.splits + split) * (hd + 2u);
      Part[base] = m[g];
      Part[base + 1u] = total[g];
    }
  }
}
