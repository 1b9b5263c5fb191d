// attn_merge.wgsl with the Prep kernel fused (PREP 1): each workgroup
// also lays its head's output out as planes for the planar matvec of the
// output projection, one dispatch instead of two.
struct MergePrep {
  units: u32,      // units of the projection's rows (all heads)
  out_stride: u32, // planes per position
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(4) var<storage, read_write> XP: array<vec4<u32>>;
@group(0) @binding(5) var<uniform> Q: MergePrep;

var<workgroup> mo: array<f32, HD>;

fn xv(i: u32) -> f32 {
  return mo[i];
}

fn merged(d: u32, v: f32) {
  mo[d] = v;
}

// merge_done lays the head's values out for the output projection's
// planar matvec (xprep_unit.wgsl): its units are whole within a head.
fn merge_done(tok: u32, h: u32, li: u32) {
  workgroupBarrier();
  let per = HD / UNIT;
  for (var u = li; u < per; u += AWG) {
    prep_unit(u * UNIT, tok * Q.out_stride + h * per + u, Q.units);
  }
}
