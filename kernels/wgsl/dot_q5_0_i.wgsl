// Planar matvec of Q5_0 (blocks of 32 values in 22 bytes: d f16 | qh u32 |
// qs[16]; y = (q−16)·d), x as int8 codes (kq_x32.wgsl): codes 0..31 as
// for Q5_1 (q5_bits.wgsl), Σ y·x = d·(Σ q·x − 16·Σ x). Blocks start at
// even offsets, 4-aligned or not: the code words come through words4, qh
// and d as 16-bit halves.
struct WU {
  q: vec4<u32>,
  qh: u32,
  d: u32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let o = wb + 22u * u;
  return WU(words4(o + 6u), u16at(o + 2u) | (u16at(o + 4u) << 16u), u16at(o));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let m = vec4<u32>(0x0f0f0f0fu);
  let lo = (w.q & m) | fifth4(w.qh, 0u);
  let hi = ((w.q >> vec4<u32>(4u)) & m) | fifth4(w.qh, 16u);
  let d = unpack2x16float(w.d).x;
  return d * (x.m.x * idot2(lo, hi, x.h0, x.h1, x.l0, x.l1) - 16.0 * x.m.y);
}
