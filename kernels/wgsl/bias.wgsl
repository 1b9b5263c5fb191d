// Bias: y[tok] += b over S.n positions of P.width values (qwen2's Q, K, V).
struct Elem {
  width: u32,
  stride: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> Y: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<uniform> P: Elem;
@group(0) @binding(3) var<uniform> S: Step;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let tok = i / P.width;
  if (tok >= S.n) {
    return;
  }
  let k = tok * P.stride + i % P.width;
  Y[k] = Y[k] + B[i % P.width];
}
