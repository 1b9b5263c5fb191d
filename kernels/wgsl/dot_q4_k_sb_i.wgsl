// Planar matvec of Q4_K, x as int8 codes (kq_x64_sb.wgsl), a unit of
// SPAN 64-value groups of one super-block (SPAN 2: half a super-block, 4:
// a whole one): the 16-byte header is loaded and its scales decoded
// (half_scales, four sub-blocks at once) once per unit, not once per group
// as dot_q4_k_i.wgsl does.

// Blocks are 144 = 9×16 bytes: the header is one 16-byte load, each
// group's 32 code bytes two.
struct WU {
  h: vec4<u32>,
  //@G q0_$: vec4<u32>, q1_$: vec4<u32>,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let v = SPAN * u;
  let b = (wb >> 4u) + (v >> 2u) * 9u;
  let i = b + 1u + 2u * (v & 3u);
  return WU(w4(b),
    //@G w4(i + 2u * $u), w4(i + 2u * $u + 1u),
  );
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let m = vec4<u32>(0x0f0f0f0fu);
  let four = vec4<u32>(4u);
  let dm = unpack2x16float(w.h.x);
  //@H let k$ = half_scales(w.h.yzw, ((SPAN / 2u) * u + $u) & 1u);
  var sd = 0.0;
  var sm = 0.0;
  //@G sd += k#H.sc[#A] * (x.m_$.x * idot2(w.q0_$ & m, w.q1_$ & m, x.ha0_$, x.ha1_$, x.la0_$, x.la1_$)) + k#H.sc[#B] * (x.m_$.z * idot2((w.q0_$ >> four) & m, (w.q1_$ >> four) & m, x.hb0_$, x.hb1_$, x.lb0_$, x.lb1_$));
  //@G sm += k#H.m[#A] * x.m_$.y + k#H.m[#B] * x.m_$.w;
  return dm.x * sd - dm.y * sm;
}
