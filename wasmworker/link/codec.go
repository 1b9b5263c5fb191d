package link

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// KindActivationParts frames carry an activation as uvarint(len(meta)),
// meta (the tabshardv1.Activation without its payload, a protobuf) and
// the payload's bytes as they are: the sender writes the payload straight
// from the activation into the link's buffer, and the receiver's
// activation keeps the payload where the frame's body landed — no
// protobuf pass over the payload on either side, no copy beyond the one
// across the Go/JavaScript boundary each way. The payload's dtype (F16 on
// the wire unless the plan says F32) is the sender's, unchanged.
const KindActivationParts = 2

// payloadField is Activation.payload's field number.
const payloadField protoreflect.FieldNumber = 8

// EncodeActivation returns the two parts of a's KindActivationParts
// message: the head (length and meta, a new buffer) and the payload (a's
// own bytes, not copied). a is only read.
func EncodeActivation(a *tabshardv1.Activation) (head, payload []byte, err error) {
	meta := &tabshardv1.Activation{}
	dst, src := meta.ProtoReflect(), a.ProtoReflect()
	dst.SetUnknown(src.GetUnknown()) // a newer sender's fields pass through
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != payloadField {
			dst.Set(fd, v) // shares lists and messages: marshalled, never changed
		}
		return true
	})
	size := proto.Size(meta)
	head = binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+size), uint64(size))
	head, err = proto.MarshalOptions{}.MarshalAppend(head, meta)
	if err != nil {
		return nil, nil, fmt.Errorf("link: encoding an activation: %w", err)
	}
	return head, a.GetPayload(), nil
}

// DecodeActivation decodes a message of kind KindActivation (a whole
// protobuf) or KindActivationParts; the latter's payload is msg's own
// bytes, not a copy. A malformed message is ErrFrame.
func DecodeActivation(kind byte, msg []byte) (*tabshardv1.Activation, error) {
	a := &tabshardv1.Activation{}
	switch kind {
	case KindActivation:
		if err := proto.Unmarshal(msg, a); err != nil {
			return nil, fmt.Errorf("%w: activation: %v", ErrFrame, err)
		}
		return a, nil
	case KindActivationParts:
	default:
		return nil, fmt.Errorf("%w: kind %d is not an activation", ErrFrame, kind)
	}
	size, n := binary.Uvarint(msg)
	if n <= 0 || size > uint64(len(msg)-n) {
		return nil, fmt.Errorf("%w: activation meta of %d bytes in a %d-byte message", ErrFrame, size, len(msg))
	}
	meta := msg[n : n+int(size)]
	if err := proto.Unmarshal(meta, a); err != nil {
		return nil, fmt.Errorf("%w: activation meta: %v", ErrFrame, err)
	}
	if a.Payload != nil {
		return nil, fmt.Errorf("%w: a payload inside the activation's meta", ErrFrame)
	}
	if rest := msg[n+int(size):]; len(rest) > 0 {
		a.Payload = rest[:len(rest):len(rest)]
	}
	return a, nil
}
