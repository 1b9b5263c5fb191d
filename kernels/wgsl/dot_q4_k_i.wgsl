// Planar matvec of Q4_K (q4_k_unit.wgsl, kq_scales.wgsl), x as int8 codes (kq_x64.wgsl):
// the low nibbles meet the unit's first 32-value group, the high nibbles
// its second.
fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let m = vec4<u32>(0x0f0f0f0fu);
  let four = vec4<u32>(4u);
  let dm = unpack2x16float(w.h.x);
  let sm = scales2(w.h.yzw, u & 3u);
  let qa = x.m.x * idot2(w.q0 & m, w.q1 & m, x.ha0, x.ha1, x.la0, x.la1);
  let qb = x.m.z * idot2((w.q0 >> four) & m, (w.q1 >> four) & m, x.hb0, x.hb1, x.lb0, x.lb1);
  return dm.x * (sm.x * qa + sm.z * qb) - dm.y * (sm.y * x.m.y + sm.w * x.m.w);
}
