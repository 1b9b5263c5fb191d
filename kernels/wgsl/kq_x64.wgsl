// The x of the planar Q4_K and Q5_K matvecs, int8 codes (xprep.wgsl,
// INT 1, UNIT 64): a unit is 64 consecutive values, two 32-value groups a
// and b, each as hi codes (ha, hb) and lo codes (la, lb) of 32 values in
// two planes; m is (scale a, Σ a, scale b, Σ b).
const UNIT: u32 = 64u;

struct XU {
  ha0: vec4<u32>,
  ha1: vec4<u32>,
  hb0: vec4<u32>,
  hb1: vec4<u32>,
  la0: vec4<u32>,
  la1: vec4<u32>,
  lb0: vec4<u32>,
  lb1: vec4<u32>,
  m: vec4<f32>,
}

fn load_x(u: u32, xr: u32) -> XU {
  return XU(xq(plane(xr, 0u, u)), xq(plane(xr, 1u, u)), xq(plane(xr, 2u, u)), xq(plane(xr, 3u, u)),
            xq(plane(xr, 4u, u)), xq(plane(xr, 5u, u)), xq(plane(xr, 6u, u)), xq(plane(xr, 7u, u)),
            xf(plane(xr, 8u, u)));
}
