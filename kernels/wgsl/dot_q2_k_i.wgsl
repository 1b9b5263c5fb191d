// Planar matvec of Q2_K (type_q2_k.wgsl has the block layout), x as int8
// codes (kq_x32.wgsl). Unit u is the 32 values 128h + 32k + l (l < 32) of
// super-block u/8, h = bit 2 of u, k = u mod 4: the crumbs at shift 2k of
// qs[32h..32h+31], in value order, so a mask makes them int8 codes 0..3
// for dot4I8Packed. Sub-blocks 8h+2k and 8h+2k+1 give the two halves their
// scale and min.
struct WU {
  a: vec4<u32>,
  b: vec4<u32>,
  s: u32,  // the two sub-blocks' scale bytes, in the low 16 bits
  dm: u32, // d, dmin
}

fn unit_load(wb: u32, u: u32) -> WU {
  let o = (wb >> 2u) + (u >> 3u) * 21u; // 84-byte blocks: word-aligned
  let h = (u >> 2u) & 1u;
  let k = u & 3u;
  let q = o + 4u + 8u * h;
  return WU(vec4<u32>(wd(q), wd(q + 1u), wd(q + 2u), wd(q + 3u)), vec4<u32>(wd(q + 4u), wd(q + 5u), wd(q + 6u), wd(q + 7u)),
            wd(o + 2u * h + (k >> 1u)) >> (16u * (k & 1u)), wd(o + 20u));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let sh = vec4<u32>(2u * (u & 3u));
  let m = vec4<u32>(0x03030303u);
  let dm = unpack2x16float(w.dm);
  let sc = vec4<f32>(vec4<u32>(w.s, w.s >> 4u, w.s >> 8u, w.s >> 12u) & vec4<u32>(15u)); // scale, min of each half
  let qa = idot1((w.a >> sh) & m, x.h0, x.l0);
  let qb = idot1((w.b >> sh) & m, x.h1, x.l1);
  return dm.x * x.m.x * (sc.x * qa + sc.z * qb) - dm.y * (sc.y * x.m.z + sc.w * (x.m.y - x.m.z));
}
