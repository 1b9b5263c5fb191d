// Q8_0: blocks of 32 values in 34 bytes (d f16 | qs[32] int8); y = q*d.
// Blocks start at offsets ≡ 0 or 2 (mod 4): the nine words covering a block
// are loaded once and the code bytes shifted into place. A unit is a block.
const UNIT: u32 = 32u;

// XU holds a unit's x values in registers (see type_q4_0.wgsl).
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

// WU is a block's raw words (see type_q4_0.wgsl).
struct WU {
  a: vec4<u32>,
  b: vec4<u32>,
  c: u32,
  odd: bool,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let o = wb + u * 34u;
  let i = o >> 2u;
  return WU(vec4<u32>(wd(i), wd(i + 1u), wd(i + 2u), wd(i + 3u)), vec4<u32>(wd(i + 4u), wd(i + 5u), wd(i + 6u), wd(i + 7u)),
            wd(i + 8u), (o & 2u) != 0u);
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let a = w.a;
  let b = w.b;
  let c = w.c;
  let odd = w.odd;
  let d = unpack2x16float(select(a.x, a.x >> 16u, odd)).x;
  let na = vec4<u32>(a.yzw, b.x);
  let nb = vec4<u32>(b.yzw, c);
  let sh = vec4<u32>(16u);
  let qa = select((a >> sh) | (na << sh), na, odd);
  let qb = select((b >> sh) | (nb << sh), nb, odd);
  let s = ((dot(f8s(qa.x), x.v0) + dot(f8s(qa.y), x.v1)) + (dot(f8s(qa.z), x.v2) + dot(f8s(qa.w), x.v3)))
        + ((dot(f8s(qb.x), x.v4) + dot(f8s(qb.y), x.v5)) + (dot(f8s(qb.z), x.v6) + dot(f8s(qb.w), x.v7)));
  // s = Σ (1 + (q+128)/256)·x, so Σ q·x = 256·s − 384·Σ x.
  return (256.0 * s - 384.0 * x.sum) * d;
}

fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 5u) * 34u;
  let q = bitcast<i32>(b8(o + 2u + (e & 31u)) << 24u) >> 24u;
  return f32(q) * f16at(o);
}
