#include "textflag.h"

// The vector form of Exp32 (ops.go): the same float64 operations in the
// same order on four values at a time, so the same bits. Constants are
// four float64 copies; exp2by32 is read from the Go table.

DATA expLow<>+0(SB)/8, $0xc062c00000000000
DATA expLow<>+8(SB)/8, $0xc062c00000000000
DATA expLow<>+16(SB)/8, $0xc062c00000000000
DATA expLow<>+24(SB)/8, $0xc062c00000000000
GLOBL expLow<>(SB), RODATA|NOPTR, $32
DATA expHigh<>+0(SB)/8, $0x4059000000000000
DATA expHigh<>+8(SB)/8, $0x4059000000000000
DATA expHigh<>+16(SB)/8, $0x4059000000000000
DATA expHigh<>+24(SB)/8, $0x4059000000000000
GLOBL expHigh<>(SB), RODATA|NOPTR, $32
DATA expInvLn2<>+0(SB)/8, $0x40471547652b82fe
DATA expInvLn2<>+8(SB)/8, $0x40471547652b82fe
DATA expInvLn2<>+16(SB)/8, $0x40471547652b82fe
DATA expInvLn2<>+24(SB)/8, $0x40471547652b82fe
GLOBL expInvLn2<>(SB), RODATA|NOPTR, $32
DATA expShift<>+0(SB)/8, $0x4338000000000000
DATA expShift<>+8(SB)/8, $0x4338000000000000
DATA expShift<>+16(SB)/8, $0x4338000000000000
DATA expShift<>+24(SB)/8, $0x4338000000000000
GLOBL expShift<>(SB), RODATA|NOPTR, $32
DATA expLn2Hi<>+0(SB)/8, $0x3f962e42fefa0000
DATA expLn2Hi<>+8(SB)/8, $0x3f962e42fefa0000
DATA expLn2Hi<>+16(SB)/8, $0x3f962e42fefa0000
DATA expLn2Hi<>+24(SB)/8, $0x3f962e42fefa0000
GLOBL expLn2Hi<>(SB), RODATA|NOPTR, $32
DATA expLn2Lo<>+0(SB)/8, $0x3d2cf79abc9e3b3a
DATA expLn2Lo<>+8(SB)/8, $0x3d2cf79abc9e3b3a
DATA expLn2Lo<>+16(SB)/8, $0x3d2cf79abc9e3b3a
DATA expLn2Lo<>+24(SB)/8, $0x3d2cf79abc9e3b3a
GLOBL expLn2Lo<>(SB), RODATA|NOPTR, $32
DATA expOne<>+0(SB)/8, $0x3ff0000000000000
DATA expOne<>+8(SB)/8, $0x3ff0000000000000
DATA expOne<>+16(SB)/8, $0x3ff0000000000000
DATA expOne<>+24(SB)/8, $0x3ff0000000000000
GLOBL expOne<>(SB), RODATA|NOPTR, $32
DATA expC6<>+0(SB)/8, $0x3fc5555555555555
DATA expC6<>+8(SB)/8, $0x3fc5555555555555
DATA expC6<>+16(SB)/8, $0x3fc5555555555555
DATA expC6<>+24(SB)/8, $0x3fc5555555555555
GLOBL expC6<>(SB), RODATA|NOPTR, $32
DATA expHalf<>+0(SB)/8, $0x3fe0000000000000
DATA expHalf<>+8(SB)/8, $0x3fe0000000000000
DATA expHalf<>+16(SB)/8, $0x3fe0000000000000
DATA expHalf<>+24(SB)/8, $0x3fe0000000000000
GLOBL expHalf<>(SB), RODATA|NOPTR, $32
DATA expC120<>+0(SB)/8, $0x3f81111111111111
DATA expC120<>+8(SB)/8, $0x3f81111111111111
DATA expC120<>+16(SB)/8, $0x3f81111111111111
DATA expC120<>+24(SB)/8, $0x3f81111111111111
GLOBL expC120<>(SB), RODATA|NOPTR, $32
DATA expC24<>+0(SB)/8, $0x3fa5555555555555
DATA expC24<>+8(SB)/8, $0x3fa5555555555555
DATA expC24<>+16(SB)/8, $0x3fa5555555555555
DATA expC24<>+24(SB)/8, $0x3fa5555555555555
GLOBL expC24<>(SB), RODATA|NOPTR, $32
DATA expMask31<>+0(SB)/8, $0x0000001f0000001f
DATA expMask31<>+8(SB)/8, $0x0000001f0000001f
GLOBL expMask31<>(SB), RODATA|NOPTR, $16
DATA f32One<>+0(SB)/8, $0x3f8000003f800000
DATA f32One<>+8(SB)/8, $0x3f8000003f800000
DATA f32One<>+16(SB)/8, $0x3f8000003f800000
DATA f32One<>+24(SB)/8, $0x3f8000003f800000
GLOBL f32One<>(SB), RODATA|NOPTR, $32
DATA f32Sign<>+0(SB)/8, $0x8000000080000000
DATA f32Sign<>+8(SB)/8, $0x8000000080000000
DATA f32Sign<>+16(SB)/8, $0x8000000080000000
DATA f32Sign<>+24(SB)/8, $0x8000000080000000
GLOBL f32Sign<>(SB), RODATA|NOPTR, $32

// expTailMask<>: 8 words with every bit set, then 8 zero words; the mask
// for the first r < 8 values of an octet is its 8 words from word 8-r.
DATA expTailMask<>+0(SB)/8, $-1
DATA expTailMask<>+8(SB)/8, $-1
DATA expTailMask<>+16(SB)/8, $-1
DATA expTailMask<>+24(SB)/8, $-1
DATA expTailMask<>+32(SB)/8, $0
DATA expTailMask<>+40(SB)/8, $0
DATA expTailMask<>+48(SB)/8, $0
DATA expTailMask<>+56(SB)/8, $0
GLOBL expTailMask<>(SB), RODATA|NOPTR, $64

// EXP4 sets X7 to Exp32 of the four float32 in src (not Y3-Y13), using
// Y3-Y13 and R12 = &exp2by32. The clamp to [-150, 100] gives what Exp32's
// early returns give (0 and +Inf) and lets NaN through.
#define EXP4(src) \
	VCVTPS2PD src, Y3 \
	VMOVUPD expLow<>(SB), Y4 \
	VMAXPD Y3, Y4, Y3 \
	VMOVUPD expHigh<>(SB), Y4 \
	VMINPD Y3, Y4, Y3 \
	VMULPD expInvLn2<>(SB), Y3, Y4 \
	VADDPD expShift<>(SB), Y4, Y4 \
	VSUBPD expShift<>(SB), Y4, Y4 \
	VMULPD expLn2Hi<>(SB), Y4, Y5 \
	VSUBPD Y5, Y3, Y5 \
	VMULPD expLn2Lo<>(SB), Y4, Y6 \
	VSUBPD Y6, Y5, Y5 \
	VMULPD Y5, Y5, Y6 \
	VADDPD expOne<>(SB), Y5, Y7 \
	VMULPD expC6<>(SB), Y5, Y8 \
	VADDPD expHalf<>(SB), Y8, Y8 \
	VMULPD expC120<>(SB), Y5, Y9 \
	VADDPD expC24<>(SB), Y9, Y9 \
	VMULPD Y9, Y6, Y9 \
	VADDPD Y9, Y8, Y8 \
	VMULPD Y8, Y6, Y8 \
	VADDPD Y8, Y7, Y7 \
	VCVTTPD2DQY Y4, X13 \
	VPAND expMask31<>(SB), X13, X12 \
	VPCMPEQQ Y11, Y11, Y11 \
	VGATHERDPD Y11, (R12)(X12*8), Y10 \
	VPSRAD $5, X13, X13 \
	VPMOVSXDQ X13, Y13 \
	VPSLLQ $52, Y13, Y13 \
	VPADDQ Y13, Y10, Y10 \
	VMULPD Y10, Y7, Y7 \
	VCVTPD2PSY Y7, X7

// EXP8 sets Y2 to Exp32 of the eight float32 in Y1, as EXP4 does.
#define EXP8 \
	EXP4(X1) \
	VMOVAPS X7, X2 \
	VEXTRACTF128 $1, Y1, X14 \
	EXP4(X14) \
	VINSERTF128 $1, X7, Y2, Y2

// HSUM sets X15[0] to ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) of Y15.
#define HSUM \
	VEXTRACTF128 $1, Y15, X1 \
	VADDPS X1, X15, X15 \
	VMOVHLPS X15, X15, X1 \
	VADDPS X1, X15, X15 \
	VMOVSHDUP X15, X1 \
	VADDSS X1, X15, X15

// func softmaxAVX2(x *float32, n int)
//
// softmaxGo's arithmetic: max, e = Exp32(x - max) summed in eight lanes
// (the last, partial octet masked), then x / sum. n >= 1.
TEXT ·softmaxAVX2(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ ·exp2by32(SB), R12

	// The largest value, in every lane of Y0.
	VBROADCASTSS 0(SI), Y0
	MOVQ         SI, AX
	MOVQ         CX, DX
	SHRQ         $3, DX
	JZ           smmaxtail

smmax:
	VMAXPS 0(AX), Y0, Y0
	ADDQ   $32, AX
	DECQ   DX
	JNZ    smmax

smmaxtail:
	// Fold the lanes before the scalar tail: a VEX scalar op clears the
	// upper half of Y0.
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VMAXSS       X1, X0, X0
	MOVQ         CX, DX
	ANDQ         $7, DX
	JZ           smmaxall

smmaxt:
	VMAXSS 0(AX), X0, X0
	ADDQ   $4, AX
	DECQ   DX
	JNZ    smmaxt

smmaxall:
	VBROADCASTSS X0, Y0

	// The exponentials, stored and summed in lanes in Y15.
	VXORPS Y15, Y15, Y15
	MOVQ   SI, AX
	MOVQ   CX, DX
	SHRQ   $3, DX
	JZ     smexptail

smexp:
	VMOVUPS 0(AX), Y1
	VSUBPS  Y0, Y1, Y1
	EXP8
	VMOVUPS Y2, 0(AX)
	VADDPS  Y2, Y15, Y15
	ADDQ    $32, AX
	DECQ    DX
	JNZ     smexp

smexptail:
	MOVQ       CX, DX
	ANDQ       $7, DX
	JZ         smsum
	LEAQ       expTailMask<>(SB), BX
	MOVQ       $8, R8
	SUBQ       DX, R8
	VMOVDQU    (BX)(R8*4), Y14
	VMASKMOVPS 0(AX), Y14, Y1
	VSUBPS     Y0, Y1, Y1
	VMOVDQU    (BX)(R8*4), Y0 // EXP8 overwrites Y14
	EXP8
	VANDPS     Y0, Y2, Y2
	VMASKMOVPS Y2, Y0, 0(AX)
	VADDPS     Y2, Y15, Y15

smsum:
	HSUM
	VBROADCASTSS X15, Y1

	// x / sum.
	MOVQ SI, AX
	MOVQ CX, DX
	SHRQ $3, DX
	JZ   smdivtail

smdiv:
	VMOVUPS 0(AX), Y2
	VDIVPS  Y1, Y2, Y2
	VMOVUPS Y2, 0(AX)
	ADDQ    $32, AX
	DECQ    DX
	JNZ     smdiv

smdivtail:
	MOVQ CX, DX
	ANDQ $7, DX
	JZ   smdone

smdivt:
	VMOVSS 0(AX), X2
	VDIVSS X1, X2, X2
	VMOVSS X2, 0(AX)
	ADDQ   $4, AX
	DECQ   DX
	JNZ    smdivt

smdone:
	VZEROUPPER
	RET

// func swigluAVX2(gate, up *float32, octets int)
//
// gate[i] = g·(1/(1 + Exp32(-g)))·up[i], g = gate[i], for 8·octets values.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-24
	MOVQ  gate+0(FP), SI
	MOVQ  up+8(FP), DI
	MOVQ  octets+16(FP), CX
	LEAQ  ·exp2by32(SB), R12
	TESTQ CX, CX
	JZ    swdone

swoctet:
	VMOVUPS 0(SI), Y0
	VXORPS  f32Sign<>(SB), Y0, Y1
	EXP8
	VADDPS  f32One<>(SB), Y2, Y2
	VMOVUPS f32One<>(SB), Y3
	VDIVPS  Y2, Y3, Y3
	VMULPS  Y3, Y0, Y3
	VMULPS  0(DI), Y3, Y3
	VMOVUPS Y3, 0(SI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     swoctet

swdone:
	VZEROUPPER
	RET

// func expAVX2(x *float32, octets int)
//
// x[i] = Exp32(x[i]) for 8·octets values (for tests).
TEXT ·expAVX2(SB), NOSPLIT, $0-16
	MOVQ  x+0(FP), SI
	MOVQ  octets+8(FP), CX
	LEAQ  ·exp2by32(SB), R12
	TESTQ CX, CX
	JZ    exdone

exoctet:
	VMOVUPS 0(SI), Y1
	EXP8
	VMOVUPS Y2, 0(SI)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     exoctet

exdone:
	VZEROUPPER
	RET
