// The Prep kernel (see xprep_unit.wgsl): one invocation per (vector, unit).
// SWIGLU 1: the input is SwiGLU of gate and up values side by side (up
// P.up values after its gate), computed here as swiglu.wgsl does.
struct Prep {
  units: u32,
  x_off: u32,
  x_stride: u32,
  out_stride: u32,
  up: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> XP: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> P: Prep;
@group(0) @binding(3) var<uniform> S: Step;

fn xv(i: u32) -> f32 {
  if (SWIGLU == 0u) {
    return X[i];
  }
  let g = X[i];
  return (g * (1.0 / (1.0 + exp(-g)))) * X[i + P.up];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let tok = i / P.units;
  let u = i % P.units;
  if (tok >= S.n) {
    return;
  }
  prep_unit(P.x_off + tok * P.x_stride + u * UNIT, tok * P.out_stride + u, P.units);
}
