// Q4_0: blocks of 32 values in 18 bytes (d f16 | qs[16]); qs[j] holds value
// j in its low nibble and j+16 in its high one; y = (nibble-8)*d. Blocks
// start at offsets ≡ 0 or 2 (mod 4): the five words covering a block are
// loaded once and the 16 code bytes shifted into place. A unit is a block;
// its x values are loaded once (load_x) for all the rows an invocation
// interleaves.
const UNIT: u32 = 32u;

// XU holds a unit's x values in registers: named fields and straight-line
// code, never arrays indexed in loops (those can land in local memory).
struct XU {
  v0: vec4<f32>,
  v1: vec4<f32>,
  v2: vec4<f32>,
  v3: vec4<f32>,
  v4: vec4<f32>,
  v5: vec4<f32>,
  v6: vec4<f32>,
  v7: vec4<f32>,
  sum: f32,
}

fn load_x(u: u32, xr: u32) -> XU {
  let b = xr + u * 32u;
  let v0 = x4(b);
  let v1 = x4(b + 4u);
  let v2 = x4(b + 8u);
  let v3 = x4(b + 12u);
  let v4 = x4(b + 16u);
  let v5 = x4(b + 20u);
  let v6 = x4(b + 24u);
  let v7 = x4(b + 28u);
  return XU(v0, v1, v2, v3, v4, v5, v6, v7, hsum(((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))));
}

// WU is a block's raw words: unit_load issues the loads, unit_dot uses
// them, so that an invocation's loads for all its rows are in flight at
// once.
struct WU {
  a: vec4<u32>,
  e: u32,
  odd: bool,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let o = wb + u * 18u;
  let i = o >> 2u;
  return WU(vec4<u32>(wd(i), wd(i + 1u), wd(i + 2u), wd(i + 3u)), wd(i + 4u), (o & 2u) != 0u);
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let a = w.a;
  let nx = vec4<u32>(a.yzw, w.e);
  let odd = w.odd;
  let d = unpack2x16float(select(a.x, a.x >> 16u, odd)).x;
  let q = select((a >> vec4<u32>(16u)) | (nx << vec4<u32>(16u)), nx, odd);
  let s = (dot(f4_lo(q.x), x.v0) + dot(f4_hi(q.x), x.v4)) + (dot(f4_lo(q.y), x.v1) + dot(f4_hi(q.y), x.v5))
        + (dot(f4_lo(q.z), x.v2) + dot(f4_hi(q.z), x.v6)) + (dot(f4_lo(q.w), x.v3) + dot(f4_hi(q.w), x.v7));
  // s = Σ (1 + q/16)·x, so Σ (q-8)·x = 16·s − 24·Σ x.
  return (16.0 * s - 24.0 * x.sum) * d;
}

fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 5u) * 18u;
  let j = e & 31u;
  let b = b8(o + 2u + (j & 15u));
  let q = select(b & 15u, b >> 4u, j >= 16u);
  return f32(i32(q) - 8) * f16at(o);
}
