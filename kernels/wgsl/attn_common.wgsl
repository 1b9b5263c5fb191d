// What the attention kernels share: the geometry and the workgroup
// reductions (over AWG invocations, into red).
struct Attn {
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  q_stride: u32,
  kv_stride: u32,
  slots: u32,
  window: u32,
  scale: f32,
  splits: u32, // split attention: room for splits of AWG keys per (position, head)
  row0: u32,   // split attention: the first of the batch's positions this dispatch takes
  rows: u32,   // and how many at most (0: all from row0)
  pad2: u32,
}

var<workgroup> red: array<f32, AWG>;

// wg_max and wg_sum reduce v over the workgroup; all invocations get it.
fn wg_max(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = AWG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      red[li] = max(red[li], red[li + s]);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn wg_sum(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = AWG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      red[li] += red[li + s];
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// visible is the first key position the query at position p sees and how
// many it sees (all before it, or the last window under a sliding window).
fn visible(p: u32) -> vec2<u32> {
  var first = 0u;
  if (P.window > 0u && p + 1u > P.window) {
    first = p + 1u - P.window;
  }
  return vec2<u32>(first, p + 1u - first);
}

// batch_rows is how many of the batch's S.n positions a split attention
// dispatch takes: those from P.row0, at most P.rows of them (a prefill's
// attention runs in several dispatches whose partials share one buffer).
fn batch_rows() -> u32 {
  if (S.n <= P.row0) {
    return 0u;
  }
  var k = S.n - P.row0;
  if (P.rows > 0u) {
    k = min(k, P.rows);
  }
  return k;
}
