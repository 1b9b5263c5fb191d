package tokenizer

import "errors"

// ErrInvalidVocab is wrapped by every error that New and FromGGUF return for
// a vocabulary that is inconsistent or incomplete.
var ErrInvalidVocab = errors.New("tokenizer: invalid vocabulary")

// ErrUnsupported is wrapped by the errors for a tokenizer model or
// pre-tokenizer this package does not implement.
var ErrUnsupported = errors.New("tokenizer: unsupported")
