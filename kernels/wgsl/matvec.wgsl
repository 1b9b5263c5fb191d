// Matrix-vector product for decoding: y[tok][row] (+)= W[row] · x[tok] for
// the rows of one weight chunk and the S.n vectors of the batch. A
// workgroup of WG invocations takes RPW rows of one vector; TPR
// invocations share a row, each streaming units (blocks or parts of
// blocks, see the type's unit_dot) UNIT values apart, and RT rows are
// interleaved per invocation, sharing each unit's x values (load_x): x is
// read once per RT rows, which matters as much as the weights (a 4-bit
// weight costs half a byte, its x value four). Workgroups are numbered across x and y so
// that grids past 65535 workgroups fit.
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

// store writes row's result for vector tok, adding to what is there when
// P.accumulate is set.
fn store(s: f32, lane: u32, tok: u32, row: u32) {
  if (lane == 0u && row < P.rows) {
    let yi = P.y_off + tok * P.y_stride + row;
    var v = s;
    if (P.accumulate != 0u) {
      v = Y[yi] + s;
    }
    Y[yi] = v;
  }
}

// main's per-row code is unrolled RT times by the assembler (the lines
// marked //@): rows live in registers, never in an indexed array.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32 SUBGROUP_ARGS) {
  let groups = (P.rows + RPW - 1u) / RPW;
  let l = wid.x + wid.y * nwg.x;
  if (l >= groups * S.n) {
    return;
  }
  let tok = l / groups;
  let first = (l % groups) * RPW + (li / TPR) * RT;
  let last = P.rows - 1u;
  let xr = P.x_off + tok * P.x_stride;
  let lane = li % TPR;
  //@DECL var acc$ = 0.0; let wb$ = min(first + $u, last) * P.row_bytes;
  // A unit may cover SPAN of the prepared x layout's units (P.units counts
  // those).
  let units = P.units / SPAN;
  if (PF == 0u) {
    for (var u = lane; u < units; u += TPR) {
      let xu = load_x(u, xr);
      //@LOAD let w$ = unit_load(wb$, u);
      //@DOT acc$ += unit_dot(w$, u, xu);
    }
  } else {
    // Software pipelining: the next unit's loads are issued before this
    // unit's arithmetic, so each invocation keeps two units in flight.
    // Past the row's end the clamped index reloads its last unit (cached).
    let u0 = min(lane, units - 1u);
    var xu = load_x(u0, xr);
    //@PRE var w$ = unit_load(wb$, u0);
    for (var u = lane; u < units; u += TPR) {
      let un = min(u + TPR, units - 1u);
      let xn = load_x(un, xr);
      //@NEXT let n$ = unit_load(wb$, un);
      //@DOT acc$ += unit_dot(w$, u, xu);
      //@SWAP w$ = n$;
      xu = xn;
    }
  }
  //@STORE store(row_sum(acc$, li, SUBGROUP_SIZE, SUBGROUP_ID), lane, tok, first + $u);
}
