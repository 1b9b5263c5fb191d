// Prepares the input vectors of a matvec for the planar kernels (dot_*.wgsl):
// vector tok's unit u (UNIT values) becomes planes of 16 bytes, plane k of
// every unit side by side (XP[tok*out_stride + k*units + u]), so that the
// invocations of a row, which take consecutive units, read consecutive 16
// bytes: one wide load serves a whole subgroup. The last plane holds each
// 32-value group's metadata.
//
// INT == 0: planes are x as f32 (4 values each); metadata (Σ group 0,
// Σ group 1, 0, 0).
// INT == 1: each 32-value group g is quantized twice to int8 with scale
// d = max|x|/127: hi = round(x/d), lo = round((x/d − hi)·254), so that
// x = d·(hi + lo/254) within d/508; planes are group g's hi codes (2
// planes), then all groups' lo codes; metadata (d, Σx) per group, and
// with one group a unit, (d, Σx, Σ of the first 16 values, 0).
// The kernel that includes this file declares XP (the planes,
// array<vec4<u32>>) and fn xv(i: u32) -> f32, value i of the input.
const GROUPS: u32 = UNIT / 32u;

// code packs four int8 values.
fn code(v: vec4<f32>) -> u32 {
  let b = vec4<u32>(bitcast<vec4<u32>>(vec4<i32>(v)) & vec4<u32>(0xffu));
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// prep_unit lays out the unit whose values start at input index src as
// planes from XP[dst], units apart.
fn prep_unit(src: u32, dst: u32, units: u32) {
  var info = vec4<f32>(0.0);
  for (var g = 0u; g < GROUPS; g++) {
    let b = src + 32u * g;
    var amax = 0.0;
    var sum = 0.0;
    var half = 0.0;
    for (var k = 0u; k < 32u; k++) {
      let v = xv(b + k);
      amax = max(amax, abs(v));
      sum += v;
      if (k == 15u) {
        half = sum;
      }
    }
    if (INT == 0u) {
      for (var k = 0u; k < 8u; k++) {
        let v = vec4<f32>(xv(b + 4u * k), xv(b + 4u * k + 1u), xv(b + 4u * k + 2u), xv(b + 4u * k + 3u));
        XP[dst + (8u * g + k) * units] = bitcast<vec4<u32>>(v);
      }
      info[g] = sum;
    } else {
      let inv = select(0.0, 127.0 / amax, amax > 0.0);
      for (var p = 0u; p < 2u; p++) {
        var hi = vec4<u32>(0u);
        var lo = vec4<u32>(0u);
        for (var c = 0u; c < 4u; c++) {
          let o = b + 16u * p + 4u * c;
          let s = vec4<f32>(xv(o), xv(o + 1u), xv(o + 2u), xv(o + 3u)) * inv;
          let h = round(s);
          hi[c] = code(h);
          lo[c] = code(round((s - h) * 254.0));
        }
        XP[dst + (2u * g + p) * units] = hi;
        XP[dst + (2u * GROUPS + 2u * g + p) * units] = lo;
      }
      info[2u * g] = amax / 127.0;
      info[2u * g + 1u] = sum;
      if (GROUPS == 1u) {
        info[2u] = half; // the K-quants' sub-blocks of 16 take Σ of each half
      }
    }
  }
  XP[dst + PLANES * units] = bitcast<vec4<u32>>(info);
}
