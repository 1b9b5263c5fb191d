// Preload (node --import) that gives a Go WebAssembly program run by Go's
// wasm_exec_node.js a navigator.gpu backed by Dawn, the npm package
// "webgpu" (pinned in package.json beside this file).
//
//   GPU_WEBGPU   path of the package's index.js (default: ./node_modules/webgpu)
//   DAWN_FLAGS   space-separated flags for create(), e.g. "backend=vulkan"
//
// The object create() returns and every adapter it hands out stay
// referenced from globalThis for the life of the process: if they are
// garbage-collected while a device lives, Dawn aborts at a random later
// point (see ../../../shared/gpu/README.md).
import { pathToFileURL } from 'node:url';
// globalThis.tabshardFetchRange: the page's whole-body fetch the worker
// streams its weights through (wasmworker.RangeFetchTransport).
import '../../web/static/fetchrange.js';

const where = process.env.GPU_WEBGPU || new URL('./node_modules/webgpu/index.js', import.meta.url).pathname;
const { create, globals } = await import(pathToFileURL(where).href);
Object.assign(globalThis, globals);

const flags = (process.env.DAWN_FLAGS || '').split(/\s+/).filter(Boolean);
const dawn = create(flags);
const adapters = [];
globalThis.__tabshardDawn = { dawn, adapters };

const gpu = {
  async requestAdapter(options) {
    const a = await dawn.requestAdapter(options);
    if (a) adapters.push(a);
    return a;
  },
  getPreferredCanvasFormat: () => 'rgba8unorm',
  get wgslLanguageFeatures() { return dawn.wgslLanguageFeatures; },
};
Object.defineProperty(globalThis, 'navigator', {
  value: { gpu, userAgent: `Node.js ${process.version} (Dawn, npm webgpu)`, hardwareConcurrency: (await import('node:os')).cpus().length },
  configurable: true,
  writable: true,
});
