// No input vector (kernels that only dequantize): unit_dot is never called.
fn x4(i: u32) -> vec4<f32> {
  return vec4<f32>(0.0);
}

fn x1(i: u32) -> f32 {
  return 0.0;
}
