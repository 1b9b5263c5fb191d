// RMSNorm fused with the Prep kernel (xprep_unit.wgsl), one workgroup per
// position: y = w * (x / sqrt(mean(x²) + eps)) as rmsnorm.wgsl computes
// it, written to Y and laid out as planes in XP for the planar matvecs
// that read it, in one dispatch instead of two.
struct NormPrep {
  dim: u32,
  eps: f32,
  x_stride: u32,
  y_stride: u32,
  units: u32,
  out_stride: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> XP: array<vec4<u32>>;
@group(0) @binding(4) var<uniform> P: NormPrep;
@group(0) @binding(5) var<uniform> S: Step;

var<workgroup> red: array<f32, 256>;
var<private> norm_scale: f32;
var<private> norm_xb: u32;

// xv is value i of the normalized vector.
fn xv(i: u32) -> f32 {
  return G[i] * (norm_scale * X[norm_xb + i]);
}

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
  norm_scale = 1.0 / sqrt(red[0] / f32(P.dim) + P.eps);
  norm_xb = xb;
  let yb = tok * P.y_stride;
  for (var i = li; i < P.dim; i += 256u) {
    Y[yb + i] = xv(i);
  }
  for (var u = li; u < P.units; u += 256u) {
    prep_unit(u * UNIT, tok * P.out_stride + u, P.units);
  }
}
