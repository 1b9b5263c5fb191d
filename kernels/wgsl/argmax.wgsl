// Greedy sampling: R[tok] = the index of the largest of P.len values of
// row tok (the lowest index on ties), one workgroup per position.
struct Pick {
  len: u32,
  stride: u32,
  temperature: f32,
  pad0: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> R: array<u32>;
@group(0) @binding(2) var<uniform> P: Pick;
@group(0) @binding(3) var<uniform> S: Step;

var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tok = wid.x;
  if (tok >= S.n) {
    return;
  }
  let base = tok * P.stride;
  var best = -3.4e38;
  var at = 0xffffffffu;
  for (var i = li; i < P.len; i += 256u) {
    let v = X[base + i];
    if (at == 0xffffffffu || v > best) {
      best = v;
      at = i;
    }
  }
  bv[li] = best;
  bi[li] = at;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) {
      let v = bv[li + s];
      let j = bi[li + s];
      if (j != 0xffffffffu && (bi[li] == 0xffffffffu || v > bv[li] || (v == bv[li] && j < bi[li]))) {
        bv[li] = v;
        bi[li] = j;
      }
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    R[tok] = bi[0];
  }
}
