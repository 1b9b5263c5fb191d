// Planar matvec of Q5_K (dot_q5_k_i.wgsl has the layout), x as int8 codes
// (kq_x64_sb.wgsl), a unit of SPAN 64-value groups of one super-block
// (dot_q4_k_sb_i.wgsl): the header and the 32 bytes of fifth bits, which
// every group of the super-block reads, are loaded once per unit and the
// scales decoded once.
struct WU {
  h: vec4<u32>,
  qh0: vec4<u32>,
  qh1: vec4<u32>,
  //@G q0_$: vec4<u32>, q1_$: vec4<u32>,
}

// Blocks are 176 = 11×16 bytes: header, qh, then four runs of codes.
fn unit_load(wb: u32, u: u32) -> WU {
  let v = SPAN * u;
  let b = (wb >> 4u) + (v >> 2u) * 11u;
  let i = b + 3u + 2u * (v & 3u);
  return WU(w4(b), w4(b + 1u), w4(b + 2u),
    //@G w4(i + 2u * $u), w4(i + 2u * $u + 1u),
  );
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let m = vec4<u32>(0x0f0f0f0fu);
  let one = vec4<u32>(0x01010101u);
  let four = vec4<u32>(4u);
  let g = (SPAN * u) & 3u; // the unit's first group in its super-block
  let dm = unpack2x16float(w.h.x);
  //@H let k$ = half_scales(w.h.yzw, ((SPAN / 2u) * u + $u) & 1u);
  var sd = 0.0;
  var sm = 0.0;
  //@G let sa$ = vec4<u32>(2u * (g + $u));
  //@G let sb$ = vec4<u32>(2u * (g + $u) + 1u);
  //@G let qa$ = idot2((w.q0_$ & m) | (((w.qh0 >> sa$) & one) << four), (w.q1_$ & m) | (((w.qh1 >> sa$) & one) << four), x.ha0_$, x.ha1_$, x.la0_$, x.la1_$);
  //@G let qb$ = idot2(((w.q0_$ >> four) & m) | (((w.qh0 >> sb$) & one) << four), ((w.q1_$ >> four) & m) | (((w.qh1 >> sb$) & one) << four), x.hb0_$, x.hb1_$, x.lb0_$, x.lb1_$);
  //@G sd += k#H.sc[#A] * (x.m_$.x * qa$) + k#H.sc[#B] * (x.m_$.z * qb$);
  //@G sm += k#H.m[#A] * x.m_$.y + k#H.m[#B] * x.m_$.w;
  return dm.x * sd - dm.y * sm;
}
