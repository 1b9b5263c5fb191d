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
//
// Counts per (weight unit, row, vector), Q4_0 int8 (a unit: 32 values,
// 16 code bytes + a 4-byte scale word; x: 5 planes of 16 bytes), the
// defaults on an NVIDIA GPU (TPR 32):
//                        matvec_batch (WG 64,    matvec_tile (WG 256,
//                        RT 2, CB 16)            RT 4, CB 8)
//   x from L2 / DRAM     80 B / 4 rows = 20 B    80 B / 32 rows = 2.5 B
//   x load instructions  5 / 2 rows = 2.5        5 / 32 rows = 0.16
//   x workgroup loads    0                       5 / 4 rows = 1.25 (20 B)
//   x workgroup stores   0                       0.16 (2.5 B)
//   weight loads         2 / 16 vectors          2 / 8 vectors
//   dot4I8Packed         16                      16
//   int-to-float         2 (quarter rate)        0: 2 integer and 2 float
//                                                adds instead (i2f.wgsl,
//                                                now in both kernels)
//   other float          ~5                      ~5
//   barriers             none                    2 per TPR units and
//                                                staged chunk of columns
// and the weights: matvec_batch's workgroups take all rows of a column
// group before the next, so at B = 32 (2 groups) a matrix larger than L2
// leaves DRAM twice; here once. What stays is the arithmetic: 16
// dot4I8Packed per unit, row and vector (two int8 levels of x), the
// bound at large B.
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
  // A unit may cover SPAN of the prepared x layout's units (P.units
  // counts those; matvec.wgsl's loop).
  let units = P.units / SPAN;
TILE_BODY
}
