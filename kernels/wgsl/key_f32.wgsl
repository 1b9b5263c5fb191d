// The key cache read one value at a time: q·k for the key at value kb.
@group(0) @binding(1) var<storage, read> KC: array<f32>;

fn key_dot(kb: u32) -> f32 {
  var acc = 0.0;
  for (var d = 0u; d < P.head_dim; d++) {
    acc += qs[d] * KC[kb + d];
  }
  return acc;
}
