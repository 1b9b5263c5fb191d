// Planar matvec of Q6_K (type_q6_k.wgsl has the block layout: ql[128] |
// qh[64] | scales[16] int8 | d f16), x as int8 codes (kq_x32.wgsl). Unit u
// is the 32 values 128n + 32j + l (l < 32) of super-block u/8, n = bit 2
// of u, j = u mod 4: nibble j/2 of ql[64n + 32(j mod 2) + l] and the
// crumb at shift 2j of qh[32n + l], in value order, make codes c+32 in
// 0..63 for dot4I8Packed; Σ c·x = Σ (c+32)·x − 32 Σ x. Scales 8n+2j and
// 8n+2j+1 belong to the halves. unit_load comes from q6_k_load.wgsl (GGUF
// layout) or q6_k_split.wgsl (split layout).
struct WU {
  a: vec4<u32>,
  b: vec4<u32>,
  ha: vec4<u32>,
  hb: vec4<u32>,
  s: u32, // the halves' int8 scales, in the low 16 bits
  d: f32,
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let j = u & 3u;
  let ns = vec4<u32>(4u * (j >> 1u));
  let hs = vec4<u32>(2u * j);
  let m4 = vec4<u32>(0x0f0f0f0fu);
  let m2 = vec4<u32>(0x03030303u);
  let ca = ((w.a >> ns) & m4) | (((w.ha >> hs) & m2) << vec4<u32>(4u));
  let cb = ((w.b >> ns) & m4) | (((w.hb >> hs) & m2) << vec4<u32>(4u));
  let s0 = f32(bitcast<i32>(w.s << 24u) >> 24u);
  let s1 = f32(bitcast<i32>(w.s << 16u) >> 24u);
  let d = w.d;
  let xa = x.m.z;
  let xb = x.m.y - x.m.z;
  return d * (s0 * (x.m.x * idot1(ca, x.h0, x.l0) - 32.0 * xa) + s1 * (x.m.x * idot1(cb, x.h1, x.l1) - 32.0 * xb));
}
