// The input vectors, read four values at a time (offsets are multiples of 4).
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;

fn x4(i: u32) -> vec4<f32> {
  return X[i >> 2u];
}

fn x1(i: u32) -> f32 {
  return X[i >> 2u][i & 3u];
}
