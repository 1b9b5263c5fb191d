// Batched matrix-vector product, tiled (decode batches, prefill): y[col][row]
// (+)= W[row] · x[col] for the rows of one weight chunk and the S.n vectors
// (columns) of the batch. A workgroup covers RPW = (WG/TPR)·RT rows of CB
// consecutive columns; the rows are spread over the invocations as
// matvec.wgsl spreads them (TPR invocations a row, lane l taking units l,
// l+TPR, … in that order), each (row, column) has its own accumulator,
// and the reduction across a row's TPR invocations is matvec.wgsl's
// row_sum arithmetic: a column's result is bit for bit the matvec's,
// whatever the batch (batch invariance).
//
// What makes it cheaper per vector than matvec_batch.wgsl: x is the
// expensive operand of a batch (a Q4_0 unit is 18 bytes of weights and
// 80 bytes of prepared x per vector), so
//   - the unit loop runs in steps of TPR units; at each step the
//     workgroup stages the TPR units of x its columns need in workgroup
//     memory (xs, CS columns at a time: one load per (unit, column) for
//     the whole workgroup), and every row group of the workgroup reads
//     them from there: x leaves L2 once per RPW rows instead of once per
//     RT rows;
//   - RT rows an invocation share each x value read, CB columns each
//     weight unit loaded;
//   - workgroups are numbered column groups first, so the workgroups
//     that read the same rows run together and the rows come from DRAM
//     once, not once per column group.
// Columns past S.n (the last group's) read the last column again and
// store nothing, so that control flow stays uniform for the barriers.
// The assembler (tile.go) writes the unrolled per-row and per-column code
// in place of the marker lines.
struct MatVec {
  rows: u32,
  row_bytes: u32,
  units: u32,
  x_off: u32,
  x_stride: u32,
  y_off: u32,
  y_stride: u32,
  accumulate: u32,
}

@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> P: MatVec;
@group(0) @binding(4) var<uniform> S: Step;

const RPW: u32 = (WG / TPR) * RT;

var<workgroup> red: array<f32, RED>;
TILE_STAGE

// store writes row's result for column col, adding to what is there when
// P.accumulate is set (matvec.wgsl's store).
fn store(s: f32, lane: u32, col: u32, row: u32) {
  if (lane == 0u && row < P.rows && col < S.n) {
    let yi = P.y_off + col * P.y_stride + row;
    var v = s;
    if (P.accumulate != 0u) {
      v = Y[yi] + s;
    }
    Y[yi] = v;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32 SUBGROUP_ARGS) {
  let groups = (P.rows + RPW - 1u) / RPW;
  let cgroups = (S.n + CB - 1u) / CB;
  let l = wid.x + wid.y * nwg.x;
  if (l >= groups * cgroups) {
    return;
  }
  let col0 = (l % cgroups) * CB;
  let first = (l / cgroups) * RPW + (li / TPR) * RT;
  let last = P.rows - 1u;
  let lane = li % TPR;
TILE_BODY
}
