// The input vectors as xprep.wgsl lays them out: planes of 16 bytes, f32
// values (xf) or packed int8 codes (xq).
@group(0) @binding(1) var<storage, read> X: array<vec4<u32>>;

fn xq(i: u32) -> vec4<u32> {
  return X[i];
}

fn xf(i: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(X[i]);
}

// idot is Σ over the four words of a and b of their packed int8 dot
// products.
fn idot(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return (dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y)) + (dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w));
}

// idot2 is the dot product of codes q with a 32-value group's two int8
// levels (hi words h, lo words l), in units of the group's scale. LO false
// drops the lo level (a coarser, faster variant for measurements).
fn idot2(q0: vec4<u32>, q1: vec4<u32>, h0: vec4<u32>, h1: vec4<u32>, l0: vec4<u32>, l1: vec4<u32>) -> f32 {
  let hi = i2f(idot(q0, h0) + idot(q1, h1));
  if (!LO) {
    return hi;
  }
  return hi + i2f(idot(q0, l0) + idot(q1, l1)) * (1.0 / 254.0);
}

// plane is the index of unit u's plane k in the vector at xr.
fn plane(xr: u32, k: u32, u: u32) -> u32 {
  return xr + k * P.units + u;
}

// idot1 is the dot product of 16 codes q with 16 values' two int8 levels
// (hi words h, lo words l), in units of their group's scale: the K-quants'
// sub-blocks of 16 values each have a scale of their own.
fn idot1(q: vec4<u32>, h: vec4<u32>, l: vec4<u32>) -> f32 {
  let hi = i2f(idot(q, h));
  if (!LO) {
    return hi;
  }
  return hi + i2f(idot(q, l)) * (1.0 / 254.0);
}
