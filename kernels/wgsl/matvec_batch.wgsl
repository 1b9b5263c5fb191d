// Batched matrix-vector product (decode batches, prefill): y[col][row] (+)=
// W[row] · x[col] for the rows of one weight chunk and the S.n vectors
// (columns) of the batch, reading each weight unit once for CB columns.
// A workgroup covers RPW rows of CB consecutive columns; the rows are
// spread over the invocations exactly as matvec.wgsl spreads them (TPR
// invocations a row, each taking units lane, lane+TPR, …, RT rows
// interleaved), and each (row, column) has its own accumulator, summed in
// the same order and reduced across the row's TPR invocations by the same
// arithmetic as matvec.wgsl's row_sum: a column's result is bit for bit
// the matvec's, whatever the batch (batch invariance). Columns past S.n
// (the last group's) read the last column again and store nothing, so
// that control flow stays uniform for the reduction.
// The assembler (batch.go) writes the unrolled per-row and per-column
// code in place of the marker line.
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

var<workgroup> red: array<f32, WG * RT * CB>;

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
  let l = wid.x + wid.y * nwg.x;
  if (l >= groups * ((S.n + CB - 1u) / CB)) {
    return;
  }
  let col0 = (l / groups) * CB;
  let first = (l % groups) * RPW + (li / TPR) * RT;
  let last = P.rows - 1u;
  let lane = li % TPR;
BATCH_BODY
}
