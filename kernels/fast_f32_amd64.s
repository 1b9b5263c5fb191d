#include "textflag.h"

// The panelLanes kernels (fast_f32.go) in AVX2: a panel of 64 values is
// eight groups of eight, groups 0, 2, 4, 6 feeding lanes 0-7 and groups
// 1, 3, 5, 7 lanes 8-15. No FMA, so that the Go code gives the same bits.

// tailMask64<>: 64 words with every bit set, then 64 zero words. The
// masks for a tail of r values (0 < r < 64) are its 64 words from word
// 64-r.
DATA tailMask64<>+0(SB)/8, $-1
DATA tailMask64<>+8(SB)/8, $-1
DATA tailMask64<>+16(SB)/8, $-1
DATA tailMask64<>+24(SB)/8, $-1
DATA tailMask64<>+32(SB)/8, $-1
DATA tailMask64<>+40(SB)/8, $-1
DATA tailMask64<>+48(SB)/8, $-1
DATA tailMask64<>+56(SB)/8, $-1
DATA tailMask64<>+64(SB)/8, $-1
DATA tailMask64<>+72(SB)/8, $-1
DATA tailMask64<>+80(SB)/8, $-1
DATA tailMask64<>+88(SB)/8, $-1
DATA tailMask64<>+96(SB)/8, $-1
DATA tailMask64<>+104(SB)/8, $-1
DATA tailMask64<>+112(SB)/8, $-1
DATA tailMask64<>+120(SB)/8, $-1
DATA tailMask64<>+128(SB)/8, $-1
DATA tailMask64<>+136(SB)/8, $-1
DATA tailMask64<>+144(SB)/8, $-1
DATA tailMask64<>+152(SB)/8, $-1
DATA tailMask64<>+160(SB)/8, $-1
DATA tailMask64<>+168(SB)/8, $-1
DATA tailMask64<>+176(SB)/8, $-1
DATA tailMask64<>+184(SB)/8, $-1
DATA tailMask64<>+192(SB)/8, $-1
DATA tailMask64<>+200(SB)/8, $-1
DATA tailMask64<>+208(SB)/8, $-1
DATA tailMask64<>+216(SB)/8, $-1
DATA tailMask64<>+224(SB)/8, $-1
DATA tailMask64<>+232(SB)/8, $-1
DATA tailMask64<>+240(SB)/8, $-1
DATA tailMask64<>+248(SB)/8, $-1
DATA tailMask64<>+256(SB)/8, $0
DATA tailMask64<>+264(SB)/8, $0
DATA tailMask64<>+272(SB)/8, $0
DATA tailMask64<>+280(SB)/8, $0
DATA tailMask64<>+288(SB)/8, $0
DATA tailMask64<>+296(SB)/8, $0
DATA tailMask64<>+304(SB)/8, $0
DATA tailMask64<>+312(SB)/8, $0
DATA tailMask64<>+320(SB)/8, $0
DATA tailMask64<>+328(SB)/8, $0
DATA tailMask64<>+336(SB)/8, $0
DATA tailMask64<>+344(SB)/8, $0
DATA tailMask64<>+352(SB)/8, $0
DATA tailMask64<>+360(SB)/8, $0
DATA tailMask64<>+368(SB)/8, $0
DATA tailMask64<>+376(SB)/8, $0
DATA tailMask64<>+384(SB)/8, $0
DATA tailMask64<>+392(SB)/8, $0
DATA tailMask64<>+400(SB)/8, $0
DATA tailMask64<>+408(SB)/8, $0
DATA tailMask64<>+416(SB)/8, $0
DATA tailMask64<>+424(SB)/8, $0
DATA tailMask64<>+432(SB)/8, $0
DATA tailMask64<>+440(SB)/8, $0
DATA tailMask64<>+448(SB)/8, $0
DATA tailMask64<>+456(SB)/8, $0
DATA tailMask64<>+464(SB)/8, $0
DATA tailMask64<>+472(SB)/8, $0
DATA tailMask64<>+480(SB)/8, $0
DATA tailMask64<>+488(SB)/8, $0
DATA tailMask64<>+496(SB)/8, $0
DATA tailMask64<>+504(SB)/8, $0
GLOBL tailMask64<>(SB), RODATA|NOPTR, $512

// PFDIST is how far ahead of the row being read the kernels prefetch (into
// L2), in bytes (see fast_dot_amd64.s).
#define PFDIST 3072

// PREFETCH4 prefetches the panel PFDIST bytes after the one at 0(AX).
#define PREFETCH4 \
	PREFETCHT1 PFDIST(AX) \
	PREFETCHT1 PFDIST+64(AX) \
	PREFETCHT1 PFDIST+128(AX) \
	PREFETCHT1 PFDIST+192(AX)

// PFOLD folds the eight products Y2..Y9 of a panel (group g in Y(2+g))
// into its low lane sums in Y2 and high lane sums in Y3:
// (g0+g2)+(g4+g6) and (g1+g3)+(g5+g7).
#define PFOLD \
	VADDPS Y4, Y2, Y2 \
	VADDPS Y8, Y6, Y6 \
	VADDPS Y6, Y2, Y2 \
	VADDPS Y5, Y3, Y3 \
	VADDPS Y9, Y7, Y7 \
	VADDPS Y7, Y3, Y3

// PREDTO stores the fixed tree of the low lanes lo and high lanes hi (lo's
// low half xlo) at dst: t = lo+hi, u_j = t_j+t_{j+4}, v_j = u_j+u_{j+2},
// v0+v1. Uses X4, X5.
#define PREDTO(lo, hi, xlo, dst) \
	VADDPS hi, lo, lo \
	VEXTRACTF128 $1, lo, X4 \
	VADDPS X4, xlo, X5 \
	VMOVHLPS X5, X5, X4 \
	VADDPS X4, X5, X5 \
	VMOVSHDUP X5, X4 \
	VADDSS X4, X5, X5 \
	VMOVSS X5, dst

// func dotRowsF32AVX2(y *float32, rows int, w *float32, stride int, x *float32, n int)
//
// y[r] = panelLanes dot of x (n values) with the row at w + r*stride, for
// r < rows: the arithmetic of dotF32Go.
TEXT ·dotRowsF32AVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), R9
	MOVQ rows+8(FP), CX
	MOVQ w+16(FP), SI
	MOVQ stride+24(FP), R8
	SHLQ $2, R8
	MOVQ x+32(FP), DI
	MOVQ n+40(FP), R11
	MOVQ R11, R10
	SHRQ $6, R11 // whole panels
	ANDQ $63, R10 // tail values
	// R12: the tail's 64 mask words.
	LEAQ tailMask64<>(SB), R12
	MOVQ $64, AX
	SUBQ R10, AX
	LEAQ (R12)(AX*4), R12
	TESTQ CX, CX
	JZ    p1done

p1row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R11, DX
	TESTQ  DX, DX
	JZ     p1tail

p1panel:
	PREFETCH4
	VMOVUPS 0(AX), Y2
	VMOVUPS 32(AX), Y3
	VMOVUPS 64(AX), Y4
	VMOVUPS 96(AX), Y5
	VMOVUPS 128(AX), Y6
	VMOVUPS 160(AX), Y7
	VMOVUPS 192(AX), Y8
	VMOVUPS 224(AX), Y9
	VMULPS  0(BX), Y2, Y2
	VMULPS  32(BX), Y3, Y3
	VMULPS  64(BX), Y4, Y4
	VMULPS  96(BX), Y5, Y5
	VMULPS  128(BX), Y6, Y6
	VMULPS  160(BX), Y7, Y7
	VMULPS  192(BX), Y8, Y8
	VMULPS  224(BX), Y9, Y9
	PFOLD
	VADDPS  Y2, Y0, Y0
	VADDPS  Y3, Y1, Y1
	ADDQ    $256, AX
	ADDQ    $256, BX
	DECQ    DX
	JNZ     p1panel

p1tail:
	TESTQ R10, R10
	JZ    p1reduce
	// The tail panel, w and x zero-padded: group g through mask words
	// 8g..8g+7 (Y10), x in Y11.
#define TAILGROUP(off, dst) \
	VMOVDQU    off(R12), Y10 \
	VMASKMOVPS off(AX), Y10, dst \
	VMASKMOVPS off(BX), Y10, Y11 \
	VMULPS     Y11, dst, dst
	TAILGROUP(0, Y2)
	TAILGROUP(32, Y3)
	TAILGROUP(64, Y4)
	TAILGROUP(96, Y5)
	TAILGROUP(128, Y6)
	TAILGROUP(160, Y7)
	TAILGROUP(192, Y8)
	TAILGROUP(224, Y9)
	PFOLD
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1

p1reduce:
	PREDTO(Y0, Y1, X0, 0(R9))
	ADDQ $4, R9
	ADDQ R8, SI
	DECQ CX
	JNZ  p1row

p1done:
	VZEROUPPER
	RET

// XV multiplies four groups of w (Y12-Y15, the groups at byte offsets
// off, off+64, off+128, off+192 of the panel) by the same groups of the
// vector at xp and adds their sum, folded (g0+g2)+(g4+g6), to acc.
#define XV(xp, off, acc) \
	VMULPS off(xp), Y12, Y4 \
	VMULPS off+64(xp), Y13, Y5 \
	VMULPS off+128(xp), Y14, Y6 \
	VMULPS off+192(xp), Y15, Y7 \
	VADDPS Y5, Y4, Y4 \
	VADDPS Y7, Y6, Y6 \
	VADDPS Y6, Y4, Y4 \
	VADDPS Y4, acc, acc

// func dotRowsF32x4AVX2(ys *[4]*float32, rows int, w *float32, stride int, xs *[4]*float32, n int, pf *byte, pfLen int)
//
// dotRowsF32AVX2 for four vectors at once: vector v is the n values at
// xs[v], its outputs at ys[v]. Each group of a row is loaded once for the
// four; each vector's lanes run exactly as in dotRowsF32AVX2, so every
// output has the bits of its own matvec. n must be a multiple of 64.
// Meanwhile the pfLen bytes at pf (the rows MatMul reads next) are
// prefetched, four lines per panel. Low lanes of vectors 0-3 in Y0-Y3,
// high lanes in Y8-Y11; R9 is the row, R11 walks pf and R15 counts its
// bytes left.
TEXT ·dotRowsF32x4AVX2(SB), NOSPLIT, $0-64
	MOVQ ys+0(FP), R10
	MOVQ rows+8(FP), CX
	MOVQ w+16(FP), SI
	MOVQ stride+24(FP), R8
	SHLQ $2, R8
	MOVQ xs+32(FP), DI
	MOVQ pf+48(FP), R11
	MOVQ pfLen+56(FP), R15
	XORQ R9, R9
	TESTQ CX, CX
	JZ    x4done

x4row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ   SI, AX
	MOVQ   0(DI), BX
	MOVQ   8(DI), R12
	MOVQ   16(DI), R13
	MOVQ   24(DI), R14
	MOVQ   n+40(FP), DX
	SHRQ   $6, DX // whole panels
	TESTQ  DX, DX
	JZ     x4reduce

x4panel:
	TESTQ      R15, R15
	JLE        x4nopf
	PREFETCHT1 0(R11)
	PREFETCHT1 64(R11)
	PREFETCHT1 128(R11)
	PREFETCHT1 192(R11)
	ADDQ       $256, R11
	SUBQ       $256, R15

x4nopf:
	VMOVUPS 0(AX), Y12
	VMOVUPS 64(AX), Y13
	VMOVUPS 128(AX), Y14
	VMOVUPS 192(AX), Y15
	XV(BX, 0, Y0)
	XV(R12, 0, Y1)
	XV(R13, 0, Y2)
	XV(R14, 0, Y3)
	VMOVUPS 32(AX), Y12
	VMOVUPS 96(AX), Y13
	VMOVUPS 160(AX), Y14
	VMOVUPS 224(AX), Y15
	XV(BX, 32, Y8)
	XV(R12, 32, Y9)
	XV(R13, 32, Y10)
	XV(R14, 32, Y11)
	ADDQ $256, AX
	ADDQ $256, BX
	ADDQ $256, R12
	ADDQ $256, R13
	ADDQ $256, R14
	DECQ DX
	JNZ  x4panel

x4reduce:
	MOVQ 0(R10), DX
	PREDTO(Y0, Y8, X0, (DX)(R9*4))
	MOVQ 8(R10), DX
	PREDTO(Y1, Y9, X1, (DX)(R9*4))
	MOVQ 16(R10), DX
	PREDTO(Y2, Y10, X2, (DX)(R9*4))
	MOVQ 24(R10), DX
	PREDTO(Y3, Y11, X3, (DX)(R9*4))
	INCQ R9
	ADDQ R8, SI
	DECQ CX
	JNZ  x4row

x4done:
	VZEROUPPER
	RET

// func decodeQ8_0AVX2(dst *float32, src *byte, blocks int)
//
// dst gets the float32 values of the Q8_0 blocks at src, code times
// scale: exact, as deqBlockQ8_0's.
TEXT ·decodeQ8_0AVX2(SB), NOSPLIT, $0-24
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  blocks+16(FP), CX
	TESTQ CX, CX
	JZ    q8ddone

q8dblock:
	PREFETCHT1   PFDIST(SI)
	VPBROADCASTW 0(SI), X6
	VCVTPH2PS    X6, Y6
	VPMOVSXBD    2(SI), Y2
	VPMOVSXBD    10(SI), Y3
	VPMOVSXBD    18(SI), Y4
	VPMOVSXBD    26(SI), Y5
	VCVTDQ2PS    Y2, Y2
	VCVTDQ2PS    Y3, Y3
	VCVTDQ2PS    Y4, Y4
	VCVTDQ2PS    Y5, Y5
	VMULPS       Y6, Y2, Y2
	VMULPS       Y6, Y3, Y3
	VMULPS       Y6, Y4, Y4
	VMULPS       Y6, Y5, Y5
	VMOVUPS      Y2, 0(DI)
	VMOVUPS      Y3, 32(DI)
	VMOVUPS      Y4, 64(DI)
	VMOVUPS      Y5, 96(DI)
	ADDQ         $34, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          q8dblock

q8ddone:
	VZEROUPPER
	RET

// Q8GROUP sets dst to the float32 values of the eight codes at off(AX)
// times the scale in sc: the exact weights decodeQ8_0AVX2 writes.
#define Q8GROUP(off, sc, dst) \
	VPMOVSXBD off(AX), dst \
	VCVTDQ2PS dst, dst \
	VMULPS    sc, dst, dst

// func dotRowsQ8_0AVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)
//
// y[r] = panelLanes dot of x (blocks×32 values) with the Q8_0 row at
// w + r*rowBytes, for r < rows: the bits of dotRowsF32AVX2 on the decoded
// row, without storing it. A panel is two blocks; an odd last block is a
// panel whose second half is zero. Scales in Y10 and Y11.
TEXT ·dotRowsQ8_0AVX2(SB), NOSPLIT, $0-48
	MOVQ  y+0(FP), R9
	MOVQ  rows+8(FP), CX
	MOVQ  w+16(FP), SI
	MOVQ  rowBytes+24(FP), R8
	MOVQ  x+32(FP), DI
	MOVQ  blocks+40(FP), R11
	MOVQ  R11, R10
	SHRQ  $1, R11 // whole panels
	ANDQ  $1, R10 // a half panel at the end
	TESTQ CX, CX
	JZ    q8pdone

q8prow:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R11, DX
	TESTQ  DX, DX
	JZ     q8phalf

q8ppanel:
	PREFETCHT1   PFDIST(AX)
	PREFETCHT1   PFDIST+64(AX)
	VPBROADCASTW 0(AX), X10
	VCVTPH2PS    X10, Y10
	VPBROADCASTW 34(AX), X11
	VCVTPH2PS    X11, Y11
	Q8GROUP(2, Y10, Y2)
	Q8GROUP(10, Y10, Y3)
	Q8GROUP(18, Y10, Y4)
	Q8GROUP(26, Y10, Y5)
	Q8GROUP(36, Y11, Y6)
	Q8GROUP(44, Y11, Y7)
	Q8GROUP(52, Y11, Y8)
	Q8GROUP(60, Y11, Y9)
	VMULPS       0(BX), Y2, Y2
	VMULPS       32(BX), Y3, Y3
	VMULPS       64(BX), Y4, Y4
	VMULPS       96(BX), Y5, Y5
	VMULPS       128(BX), Y6, Y6
	VMULPS       160(BX), Y7, Y7
	VMULPS       192(BX), Y8, Y8
	VMULPS       224(BX), Y9, Y9
	PFOLD
	VADDPS       Y2, Y0, Y0
	VADDPS       Y3, Y1, Y1
	ADDQ         $68, AX
	ADDQ         $256, BX
	DECQ         DX
	JNZ          q8ppanel

q8phalf:
	TESTQ        R10, R10
	JZ           q8preduce
	VPBROADCASTW 0(AX), X10
	VCVTPH2PS    X10, Y10
	Q8GROUP(2, Y10, Y2)
	Q8GROUP(10, Y10, Y3)
	Q8GROUP(18, Y10, Y4)
	Q8GROUP(26, Y10, Y5)
	VMULPS       0(BX), Y2, Y2
	VMULPS       32(BX), Y3, Y3
	VMULPS       64(BX), Y4, Y4
	VMULPS       96(BX), Y5, Y5
	VXORPS       Y6, Y6, Y6
	VXORPS       Y7, Y7, Y7
	VXORPS       Y8, Y8, Y8
	VXORPS       Y9, Y9, Y9
	PFOLD
	VADDPS       Y2, Y0, Y0
	VADDPS       Y3, Y1, Y1

q8preduce:
	PREDTO(Y0, Y1, X0, 0(R9))
	ADDQ $4, R9
	ADDQ R8, SI
	DECQ CX
	JNZ  q8prow

q8pdone:
	VZEROUPPER
	RET
