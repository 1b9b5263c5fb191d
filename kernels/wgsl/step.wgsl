// What changes from one forward call to the next: the number of positions
// (tokens) n in the batch and the first one's position.
struct Step {
  n: u32,
  pos: u32,
  pad0: u32,
  pad1: u32,
}
