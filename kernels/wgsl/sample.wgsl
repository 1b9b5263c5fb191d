// Temperature sampling, one workgroup per position: softmax of
// x/temperature, then the first index whose cumulative probability
// exceeds the position's coin C[tok] in [0, 1) (llama2.c's sample_mult).
// Invocation li scans a contiguous run of the values so that the
// cumulative sum runs in index order.
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
@group(0) @binding(4) var<storage, read> C: array<f32>;

var<workgroup> red: array<f32, 256>;
var<workgroup> found: atomic<u32>;

fn wg_reduce(v: f32, li: u32, is_max: bool) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) {
      if (is_max) {
        red[li] = max(red[li], red[li + s]);
      } else {
        red[li] += red[li + s];
      }
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tok = wid.x;
  if (tok >= S.n) {
    return;
  }
  let base = tok * P.stride;
  let run = (P.len + 255u) / 256u;
  let lo = min(li * run, P.len);
  let hi = min(lo + run, P.len);
  var mx = -3.4e38;
  for (var i = lo; i < hi; i++) {
    mx = max(mx, X[base + i] / P.temperature);
  }
  mx = wg_reduce(mx, li, true);
  var sum = 0.0;
  for (var i = lo; i < hi; i++) {
    sum += exp(X[base + i] / P.temperature - mx);
  }
  let total = wg_reduce(sum, li, false);
  // Cumulative probability before this invocation's run.
  var mine = 0.0;
  for (var i = lo; i < hi; i++) {
    mine += exp(X[base + i] / P.temperature - mx) / total;
  }
  red[li] = mine;
  if (li == 0u) {
    atomicStore(&found, 0xffffffffu);
  }
  workgroupBarrier();
  var cdf = 0.0;
  for (var k = 0u; k < li; k++) {
    cdf += red[k];
  }
  let coin = C[tok];
  if (coin < cdf + mine) {
    for (var i = lo; i < hi; i++) {
      cdf += exp(X[base + i] / P.temperature - mx) / total;
      if (coin < cdf) {
        atomicMin(&found, i);
        break;
      }
    }
  }
  workgroupBarrier();
  if (li == 0u) {
    let f = atomicLoad(&found);
    R[tok] = select(f, P.len - 1u, f == 0xffffffffu);
  }
}
