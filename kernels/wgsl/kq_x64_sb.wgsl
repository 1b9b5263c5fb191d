// The x of the planar Q4_K and Q5_K matvecs whose unit is SPAN 64-value
// groups of one super-block (SPAN 2 or 4; dot_q4_k_sb_i.wgsl): x keeps
// the 64-value layout (kq_x64.wgsl), group g of unit u being the prepared
// unit SPAN·u + g, its fields suffixed _g. The assembler (planar.go,
// groups) writes each line marked G once per group ($ its index, #H its
// half of the decoded scales, #A and #B its two sub-blocks there) and
// each line marked H once per decoded half ($).
const UNIT: u32 = 64u * SPAN;

struct XU {
  //@G ha0_$: vec4<u32>, ha1_$: vec4<u32>, hb0_$: vec4<u32>, hb1_$: vec4<u32>, la0_$: vec4<u32>, la1_$: vec4<u32>, lb0_$: vec4<u32>, lb1_$: vec4<u32>, m_$: vec4<f32>,
}

fn load_x(u: u32, xr: u32) -> XU {
  let v = SPAN * u;
  return XU(
    //@G xq(plane(xr, 0u, v + $u)), xq(plane(xr, 1u, v + $u)), xq(plane(xr, 2u, v + $u)), xq(plane(xr, 3u, v + $u)), xq(plane(xr, 4u, v + $u)), xq(plane(xr, 5u, v + $u)), xq(plane(xr, 6u, v + $u)), xq(plane(xr, 7u, v + $u)), xf(plane(xr, 8u, v + $u)),
  );
}
