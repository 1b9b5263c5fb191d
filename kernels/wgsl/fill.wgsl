// Seeded random words for benchmark weights: W[i] = (hash(seed, i) & mask)
// | bits. Filling on the GPU avoids uploading gigabytes.
struct Fill {
  words: u32,
  seed: u32,
  mask: u32,
  bits: u32,
}

@group(0) @binding(0) var<storage, read_write> W: array<u32>;
@group(0) @binding(1) var<uniform> P: Fill;

fn hash(x: u32) -> u32 {
  let v = x * 747796405u + 2891336453u;
  let w = ((v >> ((v >> 28u) + 4u)) ^ v) * 277803737u;
  return (w >> 22u) ^ w;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < P.words) {
    W[i] = (hash(i ^ hash(P.seed)) & P.mask) | P.bits;
  }
}
