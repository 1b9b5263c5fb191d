// Planar matvec of Q3_K (type_q3_k.wgsl has the block layout), x as int8
// codes (kq_x32.wgsl). Unit u is the 32 values 128h + 32k + l (l < 32) of
// super-block u/8, h = bit 2 of u, k = u mod 4: the crumbs at shift 2k of
// qs[32h..32h+31] and bit 4h+k of hmask[0..31], in value order, make codes
// c+4 in 0..7 for dot4I8Packed; Σ c·x = Σ (c+4)·x − 4 Σ x. Sub-blocks
// 8h+2k and 8h+2k+1 give the halves their signed 6-bit scales.
struct WU {
  a: vec4<u32>,
  b: vec4<u32>,
  ma: vec4<u32>,
  mb: vec4<u32>,
  lo: u32, // the scales' low 4 bits: bytes 2k, 2k+1 of the 12
  hi: u32, // their top 2 bits: bytes 8 + (2k mod 4), and the next
  d: u32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let o = wb + (u >> 3u) * 110u; // 110-byte blocks: 2-byte aligned
  let h = (u >> 2u) & 1u;
  let k = u & 3u;
  let q = o + 32u + 32u * h;
  let so = o + 96u;
  return WU(words4(q), words4(q + 16u), words4(o), words4(o + 16u),
            u16at(so + 2u * k), u16at(so + 8u + ((2u * k) & 3u)), u16at(o + 108u));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let k = u & 3u;
  let h = (u >> 2u) & 1u;
  let sh = vec4<u32>(2u * k);
  let hb = vec4<u32>(4u * h + k);
  let m2 = vec4<u32>(0x03030303u);
  let m1 = vec4<u32>(0x01010101u);
  let ca = ((w.a >> sh) & m2) | (((w.ma >> hb) & m1) << vec4<u32>(2u));
  let cb = ((w.b >> sh) & m2) | (((w.mb >> hb) & m1) << vec4<u32>(2u));
  let lo = w.lo >> (4u * h);
  let hi = w.hi >> (2u * (2u * h + (k >> 1u)));
  let s0 = f32(i32((lo & 15u) | ((hi & 3u) << 4u)) - 32);
  let s1 = f32(i32(((lo >> 8u) & 15u) | (((hi >> 8u) & 3u) << 4u)) - 32);
  let d = unpack2x16float(w.d).x;
  let xa = x.m.z;
  let xb = x.m.y - x.m.z;
  return d * (s0 * (x.m.x * idot1(ca, x.h0, x.l0) - 4.0 * xa) + s1 * (x.m.x * idot1(cb, x.h1, x.l1) - 4.0 * xb));
}
