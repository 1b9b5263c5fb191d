// Byte access to the weights W (holding a GGUF tensor's bytes as
// stored, little-endian). Blocks of Q8_0, Q4_0, Q6_K and Q3_K start at even
// but not always 4-aligned offsets: multi-byte fields are read from whole
// words and shifted into place.

// b8 is the byte at offset o.
fn b8(o: u32) -> u32 {
  return (wd(o >> 2u) >> ((o & 3u) << 3u)) & 0xffu;
}

// u16at is the little-endian 16-bit value at even offset o.
fn u16at(o: u32) -> u32 {
  return (wd(o >> 2u) >> ((o & 2u) << 3u)) & 0xffffu;
}

// f16at is the binary16 value at even offset o, as f32 (exact).
fn f16at(o: u32) -> f32 {
  return unpack2x16float(u16at(o)).x;
}

// ld is the little-endian 32-bit value at offset o, aligned or not.
fn ld(o: u32) -> u32 {
  let i = o >> 2u;
  let s = (o & 3u) << 3u;
  if (s == 0u) {
    return wd(i);
  }
  return (wd(i) >> s) | (wd(i + 1u) << (32u - s));
}

// nib_lo and nib_hi are the low and high nibbles of q's four bytes.
fn nib_lo(q: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u));
}
fn nib_hi(q: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u));
}

// crumbs is the 2-bit field at shift s of q's four bytes.
fn crumbs(q: u32, s: u32) -> vec4<u32> {
  return (vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) >> vec4<u32>(s)) & vec4<u32>(3u);
}

// i8x4 is q's four bytes as signed integers.
fn i8x4(q: u32) -> vec4<f32> {
  let v = bitcast<vec4<i32>>(vec4<u32>(q << 24u, q << 16u, q << 8u, q));
  return vec4<f32>(v >> vec4<u32>(24u));
}

// Code-to-float without integer conversions (a quarter-rate instruction on
// many GPUs): placing a code's bits in the mantissa of 1.0 gives 1 + q/16
// for a nibble and 1 + q/256 for a byte, exactly, with one shift, mask and
// OR per value. Kernels then use Σ q·x = 16·(Σ (1+q/16)·x − Σ x): the
// rounding of the larger terms costs about 32 float32 ulps of Σ|x|, far
// inside the matvec tolerance.

// f4_lo is 1 + (low nibble)/16 of each of q's bytes.
fn f4_lo(q: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>((vec4<u32>(q << 19u, q << 11u, q << 3u, q >> 5u) & vec4<u32>(0x00780000u)) | vec4<u32>(0x3f800000u));
}

// f4_hi is 1 + (high nibble)/16 of each of q's bytes.
fn f4_hi(q: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>((vec4<u32>(q << 15u, q << 7u, q >> 1u, q >> 9u) & vec4<u32>(0x00780000u)) | vec4<u32>(0x3f800000u));
}

// f8s is 1 + (b+128)/256 for each of q's bytes b read as int8.
fn f8s(q: u32) -> vec4<f32> {
  let b = q ^ 0x80808080u;
  return bitcast<vec4<f32>>((vec4<u32>(b << 15u, b << 7u, b >> 1u, b >> 9u) & vec4<u32>(0x007f8000u)) | vec4<u32>(0x3f800000u));
}

// hsum is the sum of v's components.
fn hsum(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}
