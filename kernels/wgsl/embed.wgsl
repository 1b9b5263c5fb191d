// Embedding lookup: y[tok][e] = row T[tok] of the embedding, dequantized,
// for the tokens whose rows lie in this chunk [row_begin, row_end).
struct Embed {
  row_begin: u32,
  row_end: u32,
  row_bytes: u32,
  dim: u32,
}

@group(0) @binding(1) var<storage, read> T: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> P: Embed;
@group(0) @binding(4) var<uniform> S: Step;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let tok = i / P.dim;
  if (tok >= S.n) {
    return;
  }
  let t = T[tok];
  if (t < P.row_begin || t >= P.row_end) {
    return;
  }
  Y[i] = deq((t - P.row_begin) * P.row_bytes, i % P.dim);
}
