// The plain read kernel that bandwidth is measured against: every
// invocation sums vec4<f32> values grid-stride over the buffer, and writes
// only if the sum is a value it never takes, so the reads cannot be
// optimised away.
@group(0) @binding(0) var<storage, read> R: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * 256u;
  let n = arrayLength(&R);
  var acc = vec4<f32>(0.0);
  for (var i = gid.x; i < n; i += stride) {
    acc += R[i];
  }
  let s = acc.x + acc.y + acc.z + acc.w;
  if (s == 1.2345e-37) {
    O[gid.x] = s;
  }
}
