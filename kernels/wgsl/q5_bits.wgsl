// The fifth bits of Q5_0 and Q5_1 blocks: bit j of the u32 qh is bit 4 of
// value j. fifth4 spreads the 16 bits at shift s (0: values 0-15, 16:
// values 16-31) to bit 4 of each byte of four words (word k byte i:
// value 4k + i), as the nibbles of qs are laid out: the multiply copies
// each of a nibble's 4 bits 7 places further per byte without carries.
fn fifth4(qh: u32, s: u32) -> vec4<u32> {
  let t = (vec4<u32>(qh >> s) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u);
  return ((t * vec4<u32>(0x00204081u)) & vec4<u32>(0x01010101u)) << vec4<u32>(4u);
}
