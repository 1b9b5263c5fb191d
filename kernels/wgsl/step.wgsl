// What changes from one forward call to the next: the number of positions
// (tokens) n in the batch and the first one's position. In a batch of
// several sequences (gpu's ForwardBatch) the kernels that see one
// sequence (RoPE, attention) run per sequence with a Step of its own: its
// n positions from pos sit at rows [row, row+n) of the batch's vectors.
// Elsewhere row is 0.
struct Step {
  n: u32,
  pos: u32,
  row: u32,
  pad1: u32,
}
