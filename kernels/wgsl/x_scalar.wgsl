// The input vectors, read one value at a time (any offset).
@group(0) @binding(1) var<storage, read> X: array<f32>;

fn x4(i: u32) -> vec4<f32> {
  return vec4<f32>(X[i], X[i + 1u], X[i + 2u], X[i + 3u]);
}

fn x1(i: u32) -> f32 {
  return X[i];
}
