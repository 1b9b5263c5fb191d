// SwiGLU over S.n positions, each holding P.width gate values and then
// P.width up values (one matvec's output over the stacked gate and up
// rows): g = silu(g) * u, in place of g.
struct Elem {
  width: u32,
  stride: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> H: array<f32>;
@group(0) @binding(1) var<uniform> P: Elem;
@group(0) @binding(2) var<uniform> S: Step;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let tok = i / P.width;
  if (tok >= S.n) {
    return;
  }
  let k = tok * P.stride + i % P.width;
  let g = H[k];
  H[k] = silu(g) * H[k + P.width];
}

fn silu(g: f32) -> f32 {
  return g * (1.0 / (1.0 + exp(-g)));
}
