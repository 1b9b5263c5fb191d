// Sums v over each group of TPR consecutive invocations (TPR a power of
// two) through workgroup memory; every invocation gets its group's sum.
// Must be called in uniform control flow.
var<workgroup> red: array<f32, WG>;

fn row_sum(v: f32, li: u32, sgs: u32, sgi: u32) -> f32 {
  let lane = li % TPR;
  red[li] = v;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      red[li] += red[li + s];
    }
    workgroupBarrier();
  }
  let r = red[li - lane];
  workgroupBarrier();
  return r;
}
