// Rows of Q4_0 and Q8_0 in the split layout (see Split): a row of nb blocks
// is its nb f16 scales, then its nb code runs (16 or 32 bytes each). With
// nb a multiple of 8 every row and every code run starts 16-byte aligned,
// so one wide load reads a block's codes, and a row's scales are read
// once, side by side.

// split_scale is block b's scale, the row starting at byte wb.
fn split_scale(wb: u32, b: u32) -> f32 {
  let s = unpack2x16float(wd((wb >> 2u) + (b >> 1u)));
  return select(s.x, s.y, (b & 1u) != 0u);
}
