// Planar matvec of Q5_1 (blocks of 32 values in 24 bytes: d f16 | m f16 |
// qh u32 | qs[16]; y = q·d + m), x as int8 codes (kq_x32.wgsl): Q4_1's
// nibbles with their fifth bits (q5_bits.wgsl) OR-ed in give codes 0..31
// in x's order. Blocks are word-aligned: six word loads.
struct WU {
  q: vec4<u32>,
  dm: u32,
  qh: u32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let i = (wb >> 2u) + 6u * u;
  return WU(vec4<u32>(wd(i + 2u), wd(i + 3u), wd(i + 4u), wd(i + 5u)), wd(i), wd(i + 1u));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let m = vec4<u32>(0x0f0f0f0fu);
  let lo = (w.q & m) | fifth4(w.qh, 0u);
  let hi = ((w.q >> vec4<u32>(4u)) & m) | fifth4(w.qh, 16u);
  let dm = unpack2x16float(w.dm);
  return dm.x * (x.m.x * idot2(lo, hi, x.h0, x.h1, x.l0, x.l1)) + dm.y * x.m.y;
}
