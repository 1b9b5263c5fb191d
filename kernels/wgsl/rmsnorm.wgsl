// RMSNorm, one workgroup per position: y = w * (x / sqrt(mean(x²) + eps)).
struct Norm {
  dim: u32,
  eps: f32,
  x_stride: u32,
  y_stride: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> P: Norm;
@group(0) @binding(4) var<uniform> S: Step;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tok = wid.x;
  if (tok >= S.n) {
    return;
  }
  let xb = tok * P.x_stride;
  var ss = 0.0;
  for (var i = li; i < P.dim; i += 256u) {
    let v = X[xb + i];
    ss += v * v;
  }
  red[li] = ss;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) {
      red[li] += red[li + s];
    }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(red[0] / f32(P.dim) + P.eps);
  let yb = tok * P.y_stride;
  for (var i = li; i < P.dim; i += 256u) {
    Y[yb + i] = G[i] * (scale * X[xb + i]);
  }
}
