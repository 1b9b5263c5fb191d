// The IQ4 codebook (kernels/iq4.go: −127 … 113), each value as its int8
// byte; iq4x4 maps the nibbles at shift s (0: the low ones, 4: the high
// ones) of each byte of q's four words to those bytes, in place, so that
// they meet x's int8 codes in dot4I8Packed. A lookup per value: the IQ4
// types cost more instructions than the linear ones. The table is a
// private variable with a constant initializer, made once per invocation
// (a function-local copy of a const array could be made per lookup).
var<private> IQ4: array<u32, 16> = array<u32, 16>(0x81u, 0x98u, 0xadu, 0xbfu, 0xcfu, 0xddu, 0xeau, 0xf6u,
                                                  0x01u, 0x0du, 0x19u, 0x26u, 0x35u, 0x45u, 0x59u, 0x71u);

fn iq4(q: u32, s: u32) -> u32 {
  return (IQ4[(q >> s) & 15u] | (IQ4[(q >> (s + 8u)) & 15u] << 8u)) | ((IQ4[(q >> (s + 16u)) & 15u] << 16u) | (IQ4[(q >> (s + 24u)) & 15u] << 24u));
}

fn iq4x4(q: vec4<u32>, s: u32) -> vec4<u32> {
  return vec4<u32>(iq4(q.x, s), iq4(q.y, s), iq4(q.z, s), iq4(q.w, s));
}
