// Planar matvec of Q4_1 (blocks of 32 values in 20 bytes: d f16 | m f16 |
// qs[16]; y = q·d + m), x as int8 codes (kq_x32.wgsl): byte k of code
// word i holds value 4i+k in its low nibble and 16+4i+k in its high one,
// so a mask and a shift make int8 codes in x's order for dot4I8Packed;
// Σ y·x = d·Σ q·x + m·Σ x. Blocks are word-aligned: five word loads.
struct WU {
  q: vec4<u32>,
  dm: u32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let i = (wb >> 2u) + 5u * u;
  return WU(vec4<u32>(wd(i + 1u), wd(i + 2u), wd(i + 3u), wd(i + 4u)), wd(i));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let m = vec4<u32>(0x0f0f0f0fu);
  let dm = unpack2x16float(w.dm);
  return dm.x * (x.m.x * idot2(w.q & m, (w.q >> vec4<u32>(4u)) & m, x.h0, x.h1, x.l0, x.l1)) + dm.y * x.m.y;
}
