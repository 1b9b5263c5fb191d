// Planar matvec of Q5_K (super-blocks of 256 values in 176 bytes: d f16 |
// dmin f16 | scales[12] | qh[32] | qs[128]; kq_scales.wgsl), x as int8
// codes (kq_x64.wgsl). A unit is Q4_K's: the 32-byte run g of qs, whose
// low nibbles are sub-block 2g and high nibbles sub-block 2g+1, value l of
// each taking bit 2g (or 2g+1) of qh[l] as its fifth bit: a shift and a
// mask put codes 0..31 in value order for dot4I8Packed. Blocks are 11×16
// bytes, so a unit is five aligned 16-byte loads (header, qh, its codes).
struct WU {
  h: vec4<u32>,
  h0: vec4<u32>,
  h1: vec4<u32>,
  q0: vec4<u32>,
  q1: vec4<u32>,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let g = u & 3u;
  let i = (wb >> 4u) + (u >> 2u) * 11u;
  return WU(w4(i), w4(i + 1u), w4(i + 2u), w4(i + 3u + 2u * g), w4(i + 4u + 2u * g));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let g = u & 3u;
  let m = vec4<u32>(0x0f0f0f0fu);
  let one = vec4<u32>(0x01010101u);
  let four = vec4<u32>(4u);
  let sa = vec4<u32>(2u * g);
  let sb = vec4<u32>(2u * g + 1u);
  let a0 = (w.q0 & m) | (((w.h0 >> sa) & one) << four);
  let a1 = (w.q1 & m) | (((w.h1 >> sa) & one) << four);
  let b0 = ((w.q0 >> four) & m) | (((w.h0 >> sb) & one) << four);
  let b1 = ((w.q1 >> four) & m) | (((w.h1 >> sb) & one) << four);
  let dm = unpack2x16float(w.h.x);
  let sm = scales2(w.h.yzw, g);
  let qa = x.m.x * idot2(a0, a1, x.ha0, x.ha1, x.la0, x.la1);
  let qb = x.m.z * idot2(b0, b1, x.hb0, x.hb1, x.lb0, x.lb1);
  return dm.x * (sm.x * qa + sm.z * qb) - dm.y * (sm.y * x.m.y + sm.w * x.m.w);
}
