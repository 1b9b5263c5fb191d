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
// planes), then all groups' lo codes; metadata (d, Σx) per group.
struct Prep {
  units: u32,
  x_off: u32,
  x_stride: u32,
  out_stride: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> XP: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> P: Prep;
@group(0) @binding(3) var<uniform> S: Step;

const GROUPS: u32 = UNIT / 32u;

// code packs four int8 values.
fn code(v: vec4<f32>) -> u32 {
  let b = vec4<u32>(bitcast<vec4<u32>>(vec4<i32>(v)) & vec4<u32>(0xffu));
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let tok = i / P.units;
  let u = i % P.units;
  if (tok >= S.n) {
    return;
  }
  let src = P.x_off + tok * P.x_stride + u * UNIT;
  let dst = tok * P.out_stride + u;
  var info = vec4<f32>(0.0);
  for (var g = 0u; g < GROUPS; g++) {
    let b = src + 32u * g;
    var amax = 0.0;
    var sum = 0.0;
    for (var k = 0u; k < 32u; k++) {
      let v = X[b + k];
      amax = max(amax, abs(v));
      sum += v;
    }
    if (INT == 0u) {
      for (var k = 0u; k < 8u; k++) {
        let v = vec4<f32>(X[b + 4u * k], X[b + 4u * k + 1u], X[b + 4u * k + 2u], X[b + 4u * k + 3u]);
        XP[dst + (8u * g + k) * P.units] = bitcast<vec4<u32>>(v);
      }
      info[g] = sum;
    } else {
      let inv = select(0.0, 127.0 / amax, amax > 0.0);
      for (var p = 0u; p < 2u; p++) {
        var hi = vec4<u32>(0u);
        var lo = vec4<u32>(0u);
        for (var c = 0u; c < 4u; c++) {
          let o = b + 16u * p + 4u * c;
          let s = vec4<f32>(X[o], X[o + 1u], X[o + 2u], X[o + 3u]) * inv;
          let h = round(s);
          hi[c] = code(h);
          lo[c] = code(round((s - h) * 254.0));
        }
        XP[dst + (2u * g + p) * P.units] = hi;
        XP[dst + (2u * GROUPS + 2u * g + p) * P.units] = lo;
      }
      info[2u * g] = amax / 127.0;
      info[2u * g + 1u] = sum;
    }
  }
  XP[dst + PLANES * P.units] = bitcast<vec4<u32>>(info);
}
