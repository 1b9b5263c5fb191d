// Planar matvec of IQ4_NL (blocks of 32 values in 18 bytes: d f16 |
// qs[16], Q4_0's nibble order; y = d·IQ4[q]), x as int8 codes
// (kq_x32.wgsl): the codebook's int8 values (iq4_lut.wgsl) meet x in
// dot4I8Packed. Blocks start at even offsets: the code words come through
// words4.
struct WU {
  q: vec4<u32>,
  d: u32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let o = wb + 18u * u;
  return WU(words4(o + 2u), u16at(o));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  return unpack2x16float(w.d).x * (x.m.x * idot2(iq4x4(w.q, 0u), iq4x4(w.q, 4u), x.h0, x.h1, x.l0, x.l1));
}
