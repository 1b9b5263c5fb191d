// Split attention, second pass: one workgroup per (position, head) combines
// the splits attn_part.wgsl wrote: with M the largest split maximum,
// o = Σ o_s·e^(m_s−M) / Σ l_s·e^(m_s−M). merged and merge_done are
// hooks: empty here (attn_merge_plain.wgsl), or laying the output out for
// the next matvec (attn_merge_prep.wgsl).
@group(0) @binding(0) var<storage, read> Part: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> P: Attn;
@group(0) @binding(3) var<uniform> S: Step;

@compute @workgroup_size(AWG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let th = wid.x + wid.y * nwg.x; // (position within the dispatch, head)
  if (th / P.heads >= batch_rows()) {
    return;
  }
  let tok = P.row0 + th / P.heads;
  let h = th % P.heads;
  let hd = P.head_dim;
  let used = (visible(S.pos + tok).y + AWG - 1u) / AWG;
  let base = th * P.splits * (hd + 2u);
  var mx = -3.0e38;
  for (var s = 0u; s < used; s++) {
    mx = max(mx, Part[base + s * (hd + 2u)]);
  }
  var total = 0.0;
  for (var s = 0u; s < used; s++) {
    let at = base + s * (hd + 2u);
    total += Part[at + 1u] * exp(Part[at] - mx);
  }
  for (var j = 0u; j < DPT; j++) {
    let d = li + AWG * j;
    if (d < hd) {
      var acc = 0.0;
      for (var s = 0u; s < used; s++) {
        let at = base + s * (hd + 2u);
        acc += Part[at + 2u + d] * exp(Part[at] - mx);
      }
      O[(S.row + tok) * P.q_stride + h * hd + d] = acc / total;
      merged(d, acc / total);
    }
  }
  merge_done(S.row + tok, h, li);
}
