// Preload (node --import, after tools/node/webgpu-preload.mjs) for
// hopbench with TABSHARD_HOP_GPU=1: opens a WebGPU device (Dawn) and keeps
// it, as a tab worker does, to see what Dawn's presence does to a hop.
const adapter = await navigator.gpu.requestAdapter();
globalThis.__hopDevice = await adapter.requestDevice();
