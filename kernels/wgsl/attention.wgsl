// Attention over the KV cache, one workgroup per (position, head): scores
// q·k/scale for the positions [first, p] the query sees (first > 0 under a
// sliding window), softmax, and the weighted sum of values. Keys are taken
// AWG at a time with an online softmax (running maximum and sum), so any
// context length fits; invocation li owns dimensions li, li+AWG, … of the
// output. Query head h reads KV head h / (heads / kv_heads).
@group(0) @binding(0) var<storage, read> Q: array<f32>;
// (binding 1, the key cache KC, and key_dot come from key_f32.wgsl or
// key_vec4.wgsl)
@group(0) @binding(2) var<storage, read> VC: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@group(0) @binding(4) var<uniform> P: Attn;
@group(0) @binding(5) var<uniform> S: Step;

var<workgroup> qs: array<f32, HD>;
var<workgroup> ps: array<f32, AWG>;

@compute @workgroup_size(AWG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let l = wid.x + wid.y * nwg.x;
  let tok = l / P.heads;
  if (tok >= S.n) {
    return;
  }
  let h = l % P.heads;
  let kh = h / (P.heads / P.kv_heads);
  let hd = P.head_dim;
  let p = S.pos + tok;
  let seen = visible(p);
  let first = seen.x;
  let count = seen.y;
  for (var d = li; d < hd; d += AWG) {
    qs[d] = Q[(S.row + tok) * P.q_stride + h * hd + d];
  }
  workgroupBarrier();
  var m = -3.0e38;
  var total = 0.0;
  var o: array<f32, DPT>;
  for (var c0 = 0u; c0 < count; c0 += AWG) {
    let valid = c0 + li < count;
    var s = -3.0e38;
    if (valid) {
      s = key_dot(((first + c0 + li) % P.slots) * P.kv_stride + kh * hd) / P.scale;
    }
    let mn = max(m, wg_max(s, li));
    let f = exp(m - mn);
    var e = 0.0;
    if (valid) {
      e = exp(s - mn);
    }
    ps[li] = e;
    total = total * f + wg_sum(e, li);
    let chunk = min(AWG, count - c0);
    for (var j = 0u; j < DPT; j++) {
      let d = li + AWG * j;
      if (d < hd) {
        var acc = o[j] * f;
        for (var t = 0u; t < chunk; t++) {
          acc += ps[t] * VC[((first + c0 + t) % P.slots) * P.kv_stride + kh * hd + d];
        }
        o[j] = acc;
      }
    }
    workgroupBarrier();
    m = mn;
  }
  for (var j = 0u; j < DPT; j++) {
    let d = li + AWG * j;
    if (d < hd) {
      O[(S.row + tok) * P.q_stride + h * hd + d] = o[j] / total;
    }
  }
}
