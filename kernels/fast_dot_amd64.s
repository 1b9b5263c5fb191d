#include "textflag.h"

// PFDIST is how far ahead of the row being read the kernels prefetch (into
// L2), in bytes: on matvecs streamed from memory, one core, 3 KiB gained
// 20-30% over the hardware prefetchers alone (which stop at 4 KiB pages);
// 2 or 4 KiB gained a little less, PREFETCHNTA lost 20%.
#define PFDIST 3072

// Constants of Q4_0's nibbles.
DATA nibbleMask<>+0(SB)/4, $15
GLOBL nibbleMask<>(SB), RODATA|NOPTR, $4
DATA nibbleBias<>+0(SB)/4, $8
GLOBL nibbleBias<>(SB), RODATA|NOPTR, $4

// Byte constants of Q6_K.
DATA q6Mask0F<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q6Mask0F<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q6Mask0F<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q6Mask0F<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL q6Mask0F<>(SB), RODATA|NOPTR, $32
DATA q6Mask03<>+0(SB)/8, $0x0303030303030303
DATA q6Mask03<>+8(SB)/8, $0x0303030303030303
DATA q6Mask03<>+16(SB)/8, $0x0303030303030303
DATA q6Mask03<>+24(SB)/8, $0x0303030303030303
GLOBL q6Mask03<>(SB), RODATA|NOPTR, $32
DATA q6Bias<>+0(SB)/8, $0x2020202020202020
DATA q6Bias<>+8(SB)/8, $0x2020202020202020
DATA q6Bias<>+16(SB)/8, $0x2020202020202020
DATA q6Bias<>+24(SB)/8, $0x2020202020202020
GLOBL q6Bias<>(SB), RODATA|NOPTR, $32

// FOLD sums the four products Y2..Y5 of a block into its eight lane sums
// in Y2: (Y2+Y3)+(Y4+Y5) in float32.
#define FOLD \
	VADDPS Y3, Y2, Y2 \
	VADDPS Y5, Y4, Y4 \
	VADDPS Y4, Y2, Y2

// ACC adds the lane sums Y2 as float64 to Y0 (lanes 0-3) and Y1 (4-7).
#define ACC \
	VCVTPS2PD X2, Y3 \
	VEXTRACTF128 $1, Y2, X4 \
	VCVTPS2PD X4, Y4 \
	VADDPD Y3, Y0, Y0 \
	VADDPD Y4, Y1, Y1

// LANES is FOLD then ACC.
#define LANES FOLD \
	ACC

// REDUCE stores float32(((A0+A4)+(A2+A6)) + ((A1+A5)+(A3+A7))) at 0(R9)
// and advances R9.
#define REDUCE \
	VADDPD Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPD X1, X0, X0 \
	VPERMILPD $1, X0, X1 \
	VADDSD X1, X0, X0 \
	VCVTSD2SS X0, X0, X0 \
	VMOVSS X0, 0(R9) \
	ADDQ $4, R9

// The kernels of the F16 and block types share one frame,
// (y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int):
// y[r] for r < rows is the row at w + r*rowBytes (blocks blocks) dotted
// with x. In the block loop AX walks the row, BX walks x and DX counts the
// blocks left.

// MULX multiplies the four float32 groups Y2..Y5 by the block's x.
#define MULX \
	VMULPS 0(BX), Y2, Y2 \
	VMULPS 32(BX), Y3, Y3 \
	VMULPS 64(BX), Y4, Y4 \
	VMULPS 96(BX), Y5, Y5

// SCALE loads the block's binary16 scale at 0(AX) into every lane of Y6.
#define SCALE \
	VPBROADCASTW 0(AX), X6 \
	VCVTPH2PS X6, Y6

// func dotRowsF16AVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)
TEXT ·dotRowsF16AVX2(SB), NOSPLIT, $0-48
	MOVQ  y+0(FP), R9
	MOVQ  rows+8(FP), CX
	MOVQ  w+16(FP), SI
	MOVQ  rowBytes+24(FP), R8
	MOVQ  x+32(FP), DI
	MOVQ  blocks+40(FP), R11
	TESTQ CX, CX
	JZ    f16done
	TESTQ R11, R11
	JZ    f16zero

f16row:
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R11, DX

f16block:
	PREFETCHT1 PFDIST(AX)
	VCVTPH2PS 0(AX), Y2
	VCVTPH2PS 16(AX), Y3
	VCVTPH2PS 32(AX), Y4
	VCVTPH2PS 48(AX), Y5
	MULX
	LANES
	ADDQ $64, AX
	ADDQ $128, BX
	DECQ DX
	JNZ  f16block
	REDUCE
	ADDQ R8, SI
	DECQ CX
	JNZ  f16row
	JMP  f16done

f16zero:
	MOVL $0, 0(R9)
	ADDQ $4, R9
	DECQ CX
	JNZ  f16zero

f16done:
	VZEROUPPER
	RET

// func dotRowsQ4_0AVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)
TEXT ·dotRowsQ4_0AVX2(SB), NOSPLIT, $0-48
	VPBROADCASTD nibbleMask<>(SB), Y7
	VPBROADCASTD nibbleBias<>(SB), Y8
	MOVQ  y+0(FP), R9
	MOVQ  rows+8(FP), CX
	MOVQ  w+16(FP), SI
	MOVQ  rowBytes+24(FP), R8
	MOVQ  x+32(FP), DI
	MOVQ  blocks+40(FP), R11
	TESTQ CX, CX
	JZ    q4done
	TESTQ R11, R11
	JZ    q4zero

q4row:
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R11, DX

q4block:
	PREFETCHT1 PFDIST(AX)
	SCALE
	VPMOVZXBD 2(AX), Y2
	VPMOVZXBD 10(AX), Y3
	VPSRLD $4, Y2, Y4
	VPSRLD $4, Y3, Y5
	VPAND Y7, Y2, Y2
	VPAND Y7, Y3, Y3
	VPSUBD Y8, Y2, Y2
	VPSUBD Y8, Y3, Y3
	VPSUBD Y8, Y4, Y4
	VPSUBD Y8, Y5, Y5
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VCVTDQ2PS Y4, Y4
	VCVTDQ2PS Y5, Y5
	MULX
	FOLD
	VMULPS Y6, Y2, Y2
	ACC
	ADDQ $18, AX
	ADDQ $128, BX
	DECQ DX
	JNZ  q4block
	REDUCE
	ADDQ R8, SI
	DECQ CX
	JNZ  q4row
	JMP  q4done

q4zero:
	MOVL $0, 0(R9)
	ADDQ $4, R9
	DECQ CX
	JNZ  q4zero

q4done:
	VZEROUPPER
	RET

// func headScoresAVX2(att *float32, n int, q *float32, keys *float32, stride int, octets int, scale float32)
//
// att[i] = dotHead(q, keys + i*stride) / scale for i < n; q has 8·octets
// values.
TEXT ·headScoresAVX2(SB), NOSPLIT, $0-52
	MOVQ  att+0(FP), R9
	MOVQ  n+8(FP), CX
	MOVQ  q+16(FP), DI
	MOVQ  keys+24(FP), SI
	MOVQ  stride+32(FP), R8
	SHLQ  $2, R8
	MOVQ  octets+40(FP), R11
	VMOVSS scale+48(FP), X7
	TESTQ CX, CX
	JZ    hsdone

hsrow:
	VXORPS Y0, Y0, Y0
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R11, DX

hsoctet:
	VMOVUPS 0(AX), Y1
	VMULPS  0(BX), Y1, Y1
	VADDPS  Y1, Y0, Y0
	ADDQ    $32, AX
	ADDQ    $32, BX
	DECQ    DX
	JNZ     hsoctet

	// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	VDIVSS       X7, X0, X0
	VMOVSS       X0, 0(R9)
	ADDQ         $4, R9
	ADDQ         R8, SI
	DECQ         CX
	JNZ          hsrow

hsdone:
	VZEROUPPER
	RET

// func weighOctetsAVX2(out *float32, octets int, att *float32, n int, values *float32, stride int)
//
// For each of the octets groups of eight values of out, adds
// Σ att[i]·values[i*stride + group] in order of i.
TEXT ·weighOctetsAVX2(SB), NOSPLIT, $0-48
	MOVQ  out+0(FP), R9
	MOVQ  octets+8(FP), R11
	MOVQ  att+16(FP), DI
	MOVQ  n+24(FP), R10
	MOVQ  values+32(FP), SI
	MOVQ  stride+40(FP), R8
	SHLQ  $2, R8
	TESTQ R10, R10
	JZ    wodone
	TESTQ R11, R11
	JZ    wodone

wooctet:
	VMOVUPS 0(R9), Y0
	MOVQ    SI, AX
	MOVQ    DI, BX
	MOVQ    R10, CX

wopos:
	VBROADCASTSS 0(BX), Y1
	VMULPS       0(AX), Y1, Y1
	VADDPS       Y1, Y0, Y0
	ADDQ         $4, BX
	ADDQ         R8, AX
	DECQ         CX
	JNZ          wopos

	VMOVUPS Y0, 0(R9)
	ADDQ    $32, R9
	ADDQ    $32, SI
	DECQ    R11
	JNZ     wooctet

wodone:
	VZEROUPPER
	RET

// Q4KHALF adds one Q4_K sub-block whose codes are the int32 in Y2-Y5, its
// x at xo(BX), its scale at dj(SP) and offset at mj(SP): lanes
// d·s − m·t (see fast_kquant.go). Uses Y11-Y14.
#define Q4KHALF(xo, dj, mj) \
	VCVTDQ2PS    Y2, Y2 \
	VCVTDQ2PS    Y3, Y3 \
	VCVTDQ2PS    Y4, Y4 \
	VCVTDQ2PS    Y5, Y5 \
	VMOVUPS      xo+0(BX), Y11 \
	VMOVUPS      xo+32(BX), Y12 \
	VMOVUPS      xo+64(BX), Y13 \
	VMOVUPS      xo+96(BX), Y14 \
	VMULPS       Y11, Y2, Y2 \
	VMULPS       Y12, Y3, Y3 \
	VMULPS       Y13, Y4, Y4 \
	VMULPS       Y14, Y5, Y5 \
	VADDPS       Y12, Y11, Y11 \
	VADDPS       Y14, Y13, Y13 \
	VADDPS       Y13, Y11, Y11 \
	FOLD \
	VBROADCASTSS dj(SP), Y12 \
	VMULPS       Y12, Y2, Y2 \
	VBROADCASTSS mj(SP), Y12 \
	VMULPS       Y12, Y11, Y11 \
	VSUBPS       Y11, Y2, Y2 \
	ACC

// Q4KPAIR adds sub-blocks 2p (low nibbles) and 2p+1 (high nibbles) of the
// 32 code bytes at q(AX), their x at xo(BX) and xo+128(BX), their scales
// and offsets at d0, m0, d1, m1 (SP). Y10 holds 15 in every lane.
#define Q4KPAIR(q, xo, xo2, d0, m0, d1, m1) \
	VPMOVZXBD q+0(AX), Y2 \
	VPMOVZXBD q+8(AX), Y3 \
	VPMOVZXBD q+16(AX), Y4 \
	VPMOVZXBD q+24(AX), Y5 \
	VPSRLD    $4, Y2, Y6 \
	VPSRLD    $4, Y3, Y7 \
	VPSRLD    $4, Y4, Y8 \
	VPSRLD    $4, Y5, Y9 \
	VPAND     Y10, Y2, Y2 \
	VPAND     Y10, Y3, Y3 \
	VPAND     Y10, Y4, Y4 \
	VPAND     Y10, Y5, Y5 \
	Q4KHALF(xo, d0, m0) \
	VMOVDQU   Y6, Y2 \
	VMOVDQU   Y7, Y3 \
	VMOVDQU   Y8, Y4 \
	VMOVDQU   Y9, Y5 \
	Q4KHALF(xo2, d1, m1)

// func dotRowsQ4_KAVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)
//
// blocks counts 256-value super-blocks. The frame holds a super-block's
// eight scales at 0(SP), its eight offsets at 32(SP) and the count of
// super-blocks left at 64(SP). The 12 scale bytes are unpacked as
// scaleMinK4 does, with 32-bit masks: u0..u2 = bytes 0-3, 4-7, 8-11;
// scales = u0&0x3f3f3f3f, (u2&0x0f0f0f0f) | ((u0>>6)&0x03030303)<<4;
// offsets = u1&0x3f3f3f3f, ((u2>>4)&0x0f0f0f0f) | ((u1>>6)&0x03030303)<<4.
TEXT ·dotRowsQ4_KAVX2(SB), NOSPLIT, $72-48
	MOVQ         y+0(FP), R9
	MOVQ         rows+8(FP), CX
	MOVQ         w+16(FP), SI
	MOVQ         rowBytes+24(FP), R8
	MOVQ         x+32(FP), DI
	MOVQ         blocks+40(FP), R11
	VPBROADCASTD nibbleMask<>(SB), Y10
	TESTQ        CX, CX
	JZ           q4kdone
	TESTQ        R11, R11
	JZ           q4kzero

q4krow:
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R11, 64(SP)

q4kblock:
	PREFETCHT1   PFDIST(AX)
	PREFETCHT1   PFDIST+64(AX)
	PREFETCHT1   PFDIST+128(AX)
	MOVL         4(AX), R10
	MOVL         8(AX), R12
	MOVL         12(AX), R13
	MOVL         R13, CX
	SHRL         $4, CX
	ANDL         $0x0f0f0f0f, CX
	MOVL         R12, DX
	SHRL         $6, DX
	ANDL         $0x03030303, DX
	SHLL         $4, DX
	ORL          DX, CX                // offsets 4-7
	ANDL         $0x0f0f0f0f, R13
	MOVL         R10, DX
	SHRL         $6, DX
	ANDL         $0x03030303, DX
	SHLL         $4, DX
	ORL          DX, R13               // scales 4-7
	ANDL         $0x3f3f3f3f, R12      // offsets 0-3
	ANDL         $0x3f3f3f3f, R10      // scales 0-3
	VPBROADCASTW 0(AX), X11
	VCVTPH2PS    X11, Y11              // d
	VPBROADCASTW 2(AX), X12
	VCVTPH2PS    X12, Y12              // dmin
	VMOVD        R10, X13
	VPINSRD      $1, R13, X13, X13
	VPMOVZXBD    X13, Y13
	VCVTDQ2PS    Y13, Y13
	VMULPS       Y11, Y13, Y13
	VMOVUPS      Y13, 0(SP)
	VMOVD        R12, X13
	VPINSRD      $1, CX, X13, X13
	VPMOVZXBD    X13, Y13
	VCVTDQ2PS    Y13, Y13
	VMULPS       Y12, Y13, Y13
	VMOVUPS      Y13, 32(SP)
	Q4KPAIR(16, 0, 128, 0, 32, 4, 36)
	Q4KPAIR(48, 256, 384, 8, 40, 12, 44)
	Q4KPAIR(80, 512, 640, 16, 48, 20, 52)
	Q4KPAIR(112, 768, 896, 24, 56, 28, 60)
	ADDQ         $144, AX
	ADDQ         $1024, BX
	DECQ         64(SP)
	JNZ          q4kblock
	REDUCE
	ADDQ         R8, SI
	DECQ         rows+8(FP)
	JNZ          q4krow
	JMP          q4kdone

q4kzero:
	MOVL $0, 0(R9)
	ADDQ $4, R9
	DECQ CX
	JNZ  q4kzero

q4kdone:
	VZEROUPPER
	RET

// Q6CODES sets the 32 bytes of Y9 to the codes − 32 of a Q6_K run: low
// nibbles of QL at shift LS, high pairs of Y8 (qh) at shift HS. Uses Y13.
#define Q6CODES(QL, LS, HS) \
	VPSRLW $LS, QL, Y9 \
	VPAND  q6Mask0F<>(SB), Y9, Y9 \
	VPSRLW $HS, Y8, Y13 \
	VPAND  q6Mask03<>(SB), Y13, Y13 \
	VPSLLW $4, Y13, Y13 \
	VPOR   Y13, Y9, Y9 \
	VPSUBB q6Bias<>(SB), Y9, Y9

// Q6RUN adds the Q6_K run whose signed codes are the bytes of Y9, its x
// at xo(BX), its halves' scales at da(SP) and db(SP). Uses Y2-Y5, Y13.
#define Q6RUN(xo, da, db) \
	VPMOVSXBD    X9, Y2 \
	VPSRLDQ      $8, X9, X13 \
	VPMOVSXBD    X13, Y3 \
	VEXTRACTI128 $1, Y9, X13 \
	VPMOVSXBD    X13, Y4 \
	VPSRLDQ      $8, X13, X13 \
	VPMOVSXBD    X13, Y5 \
	VCVTDQ2PS    Y2, Y2 \
	VCVTDQ2PS    Y3, Y3 \
	VCVTDQ2PS    Y4, Y4 \
	VCVTDQ2PS    Y5, Y5 \
	VMULPS       xo+0(BX), Y2, Y2 \
	VMULPS       xo+32(BX), Y3, Y3 \
	VMULPS       xo+64(BX), Y4, Y4 \
	VMULPS       xo+96(BX), Y5, Y5 \
	VADDPS       Y3, Y2, Y2 \
	VADDPS       Y5, Y4, Y4 \
	VBROADCASTSS da(SP), Y3 \
	VMULPS       Y3, Y2, Y2 \
	VBROADCASTSS db(SP), Y5 \
	VMULPS       Y5, Y4, Y4 \
	VADDPS       Y4, Y2, Y2 \
	ACC

// func dotRowsQ6_KAVX2(y *float32, rows int, w *byte, rowBytes int, x *float32, blocks int)
//
// blocks counts 256-value super-blocks. The frame holds a super-block's
// sixteen scales d·sc at 0(SP) and the count of super-blocks left at
// 64(SP).
TEXT ·dotRowsQ6_KAVX2(SB), NOSPLIT, $72-48
	MOVQ  y+0(FP), R9
	MOVQ  rows+8(FP), CX
	MOVQ  w+16(FP), SI
	MOVQ  rowBytes+24(FP), R8
	MOVQ  x+32(FP), DI
	MOVQ  blocks+40(FP), R11
	TESTQ CX, CX
	JZ    q6kdone
	TESTQ R11, R11
	JZ    q6kzero

q6krow:
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	MOVQ   SI, AX
	MOVQ   DI, BX
	MOVQ   R11, 64(SP)

q6kblock:
	PREFETCHT1   PFDIST(AX)
	PREFETCHT1   PFDIST+64(AX)
	PREFETCHT1   PFDIST+128(AX)
	PREFETCHT1   PFDIST+192(AX)
	VPBROADCASTW 208(AX), X12
	VCVTPH2PS    X12, Y12
	VPMOVSXBD    192(AX), Y13
	VCVTDQ2PS    Y13, Y13
	VMULPS       Y12, Y13, Y13
	VMOVUPS      Y13, 0(SP)
	VPMOVSXBD    200(AX), Y13
	VCVTDQ2PS    Y13, Y13
	VMULPS       Y12, Y13, Y13
	VMOVUPS      Y13, 32(SP)
	VMOVDQU      0(AX), Y6
	VMOVDQU      32(AX), Y7
	VMOVDQU      128(AX), Y8
	Q6CODES(Y6, 0, 0)
	Q6RUN(0, 0, 4)
	Q6CODES(Y7, 0, 2)
	Q6RUN(128, 8, 12)
	Q6CODES(Y6, 4, 4)
	Q6RUN(256, 16, 20)
	Q6CODES(Y7, 4, 6)
	Q6RUN(384, 24, 28)
	VMOVDQU      64(AX), Y6
	VMOVDQU      96(AX), Y7
	VMOVDQU      160(AX), Y8
	Q6CODES(Y6, 0, 0)
	Q6RUN(512, 32, 36)
	Q6CODES(Y7, 0, 2)
	Q6RUN(640, 40, 44)
	Q6CODES(Y6, 4, 4)
	Q6RUN(768, 48, 52)
	Q6CODES(Y7, 4, 6)
	Q6RUN(896, 56, 60)
	ADDQ         $210, AX
	ADDQ         $1024, BX
	DECQ         64(SP)
	JNZ          q6kblock
	REDUCE
	ADDQ         R8, SI
	DECQ         rows+8(FP)
	JNZ          q6krow
	JMP          q6kdone

q6kzero:
	MOVL $0, 0(R9)
	ADDQ $4, R9
	DECQ CX
	JNZ  q6kzero

q6kdone:
	VZEROUPPER
	RET
