// Sums v over each group of TPR consecutive invocations with subgroupAdd,
// then across the group's subgroups through workgroup memory. Needs TPR to
// be a multiple of the subgroup size and subgroups to be runs of
// consecutive invocation indices (true of every adapter we know; the
// conformance suite checks it). Must be called in uniform control flow.
var<workgroup> red: array<f32, WG>;

fn row_sum(v: f32, li: u32, sgs: u32, sgi: u32) -> f32 {
  let t = subgroupAdd(v);
  if (sgi == 0u) {
    red[li / sgs] = t;
  }
  workgroupBarrier();
  let per = TPR / sgs;
  let base = (li / TPR) * per;
  var s = 0.0;
  for (var k = 0u; k < per; k++) {
    s += red[base + k];
  }
  workgroupBarrier();
  return s;
}
