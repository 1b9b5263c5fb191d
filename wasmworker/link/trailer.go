package link

// cutTrailer splits a BroadcastChannel message into the sender's id and
// the frame before it: frame, id, len(id) as a byte. ok is false when the
// message is too short for the trailer it announces.
func cutTrailer(msg []byte) (from string, frame []byte, ok bool) {
	if len(msg) == 0 {
		return "", nil, false
	}
	k := int(msg[len(msg)-1])
	if k == 0 || k+1 > len(msg) {
		return "", nil, false
	}
	end := len(msg) - 1 - k
	return string(msg[end : len(msg)-1]), msg[:end:end], true
}
