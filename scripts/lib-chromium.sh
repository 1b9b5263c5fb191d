# shellcheck shell=bash
# Sourced by scripts/bench-load and scripts/bench-pipeline (TABS=chromium):
# pick_chromium_flags TABS_BIN COORDINATOR_URL LOG_DIR NVIDIA
# tries each set of Chromium flags for WebGPU in turn (GPU_FLAGS: sets
# separated by |, flags by spaces, no dashes), saving what navigator.gpu
# gave a page under each as LOG_DIR/gpu-info-N.json and printing it, and
# leaves in the array chromium_flag_args the --flag arguments of the first
# set that gave a GPU adapter other than SwiftShader (the last set when
# none did: the run then shows what a page gets). Without the NVIDIA
# driver (NVIDIA empty) the one set is GPU_FLAGS or none (SwiftShader).
pick_chromium_flags() {
  local tabs_bin=$1 base=$2 logs=$3 nvidia=$4 sets=() i=0 set f
  if [ -n "$nvidia" ]; then
    IFS='|' read -r -a sets <<< "${GPU_FLAGS:-enable-features=Vulkan use-angle=vulkan ignore-gpu-blocklist disable-gpu-sandbox|enable-features=Vulkan,VulkanFromANGLE,DefaultANGLEVulkan use-angle=vulkan use-vulkan=native disable-vulkan-surface ignore-gpu-blocklist disable-gpu-sandbox enable-gpu|enable-features=Vulkan ignore-gpu-blocklist disable-gpu-sandbox disable-software-rasterizer no-zygote}"
  else
    sets=("${GPU_FLAGS:-}")
  fi
  chromium_flag_args=()
  for set in "${sets[@]}"; do
    i=$((i + 1))
    chromium_flag_args=()
    for f in $set; do chromium_flag_args+=(--flag "$f"); done
    "$tabs_bin" --gpu-info --coordinator "$base" "${chromium_flag_args[@]}" > "$logs/gpu-info-$i.json" 2> "$logs/gpu-info-$i.log" || true
    echo "Chromium flags [$set]: navigator.gpu gave $(head -c 700 "$logs/gpu-info-$i.json")"
    if [ -z "$nvidia" ] || { grep -q '"adapter"' "$logs/gpu-info-$i.json" && ! grep -q swiftshader "$logs/gpu-info-$i.json"; }; then
      return 0
    fi
    echo "  (not the GPU; the GPU process said: $(grep -m3 -i -E 'gpu|vulkan|dawn' "$logs/gpu-info-$i.log" | tr '\n' ' ' | cut -c1-400))"
  done
}
