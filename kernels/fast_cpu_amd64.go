package kernels

// The assembly kernels need AVX2 (eight-wide float and integer arithmetic)
// and F16C (binary16 conversion), and an operating system that saves the
// YMM registers. golang.org/x/sys/cpu is not a dependency, so the features
// are read here with CPUID and XGETBV.

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

// hasAVX2 reports whether the CPU and OS support AVX2 and F16C.
func hasAVX2() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave, avx, f16c = 1 << 27, 1 << 28, 1 << 29
	if ecx1&(osxsave|avx|f16c) != osxsave|avx|f16c {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 { // XMM and YMM state enabled
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}

// useAsm selects the assembly kernels; tests turn it off to compare them
// with the Go reference.
var useAsm = hasAVX2()
