#!/usr/bin/env bash
# Installs what the WebGPU tests need, idempotently, from package
# registries only (never a downloaded browser build):
#   - Debian's chromium (headless Chromium with SwiftShader's WebGPU, and
#     /usr/lib/chromium/vk_swiftshader_icd.json, the Vulkan driver Dawn
#     uses under Node.js on a machine without a GPU)
#   - libvulkan1 (the Vulkan loader Dawn's node binding opens)
#   - the npm packages pinned in tools/node/package-lock.json ("webgpu",
#     Dawn for Node.js), with npm ci
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
dpkg -s libvulkan1 >/dev/null 2>&1 || need+=(libvulkan1)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  [ -n "$(ls /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] || $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

lock=$root/tools/node/package-lock.json
stamp=$root/tools/node/node_modules/.tabshard-lock
if ! cmp -s "$lock" "$stamp" 2>/dev/null || [ ! -f "$root/tools/node/node_modules/webgpu/dist/linux-x64/dawn.node" ]; then
  (cd "$root/tools/node" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$stamp"
fi
echo "test deps: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), node $(node --version), webgpu $(node -p "require('$root/tools/node/node_modules/webgpu/package.json').version")"
