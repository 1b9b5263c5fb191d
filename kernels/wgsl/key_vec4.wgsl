// The key cache read 16 bytes at a time (heads of a multiple of 4 values,
// so kb is too): q·k for the key at value kb.
@group(0) @binding(1) var<storage, read> KC: array<vec4<f32>>;

fn key_dot(kb: u32) -> f32 {
  var acc = vec4<f32>(0.0);
  let b = kb / 4u;
  for (var d = 0u; d < P.head_dim / 4u; d++) {
    acc += vec4<f32>(qs[4u * d], qs[4u * d + 1u], qs[4u * d + 2u], qs[4u * d + 3u]) * KC[b + d];
  }
  return acc.x + acc.y + acc.z + acc.w;
}
