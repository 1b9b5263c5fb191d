package bus

import (
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// CoordinatorProducer is the producer token of what a coordinator publishes
// on an activation subject (a step's input to stage 0). Worker ids are
// "w<n>", so no worker credential can publish under it.
const CoordinatorProducer = "coordinator"

// Permissions are the subjects a user may publish and subscribe to (NATS
// wildcards allowed): what a user JWT carries and the server enforces.
type Permissions struct {
	Publish   []string
	Subscribe []string
}

// WorkerPermissions are what worker may do on the bus: publish its own
// heartbeats, tokens, activations (subjects that end in its id) and WebRTC
// signals; read epoch announcements, activations, signals sent to it and
// replies on its own inbox; and read — never write or consume through —
// the activation log (stream info and single-message gets, whose replies
// are JSON-wrapped, so a reply subject cannot turn them into another
// subject's message). Everything else (control subjects, other workers'
// subjects, the rest of the JetStream API) is refused by the server.
func (s Subjects) WorkerPermissions(worker string) Permissions {
	stream := StreamName(s.Cluster)
	return Permissions{
		Publish: []string{
			s.Heartbeat(worker), s.Token(worker), s.prefix() + "act.*.*." + worker,
			s.prefix() + "rtc.*." + worker,
			"$JS.API.STREAM.INFO." + stream, "$JS.API.STREAM.MSG.GET." + stream,
		},
		Subscribe: []string{
			s.Epoch(), s.prefix() + "act.*.*.*", s.prefix() + "rtc." + worker + ".*",
			s.InboxPrefix(worker) + ".>",
		},
	}
}

// InboxPrefix is worker's reply subject prefix (nats.CustomInboxPrefix):
// its credential reads replies there and nowhere else.
func (s Subjects) InboxPrefix(worker string) string { return s.prefix() + "inbox." + worker }

// UserKey is a NATS user's key pair: the seed stays with its holder, the
// public key goes into the user JWT the cluster's account signs.
type UserKey struct{ kp nkeys.KeyPair }

// NewUserKey makes a fresh user key.
func NewUserKey() (*UserKey, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("bus: user key: %w", err)
	}
	return &UserKey{kp: kp}, nil
}

// PublicKey is the key's public half ("U...").
func (k *UserKey) PublicKey() string {
	pub, _ := k.kp.PublicKey() // cannot fail for a key made by CreateUser
	return pub
}

// Sign signs a server's nonce.
func (k *UserKey) Sign(nonce []byte) ([]byte, error) { return k.kp.Sign(nonce) }

// Credentials are a user JWT with the key it was issued for; the JWT can be
// replaced (renewed) while a connection uses it: every (re)connect reads
// the current one.
type Credentials struct {
	key *UserKey
	mu  sync.Mutex
	jwt string
}

// NewCredentials pairs a user JWT with its key.
func NewCredentials(key *UserKey, userJWT string) *Credentials {
	return &Credentials{key: key, jwt: userJWT}
}

// JWT is the current user JWT.
func (c *Credentials) JWT() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jwt
}

// Renew replaces the user JWT the next (re)connect presents.
func (c *Credentials) Renew(userJWT string) {
	c.mu.Lock()
	c.jwt = userJWT
	c.mu.Unlock()
}

// Key is the user key.
func (c *Credentials) Key() *UserKey { return c.key }

// Option authenticates a connection with these credentials.
func (c *Credentials) Option() nats.Option {
	return nats.UserJWT(func() (string, error) { return c.JWT(), nil }, c.key.Sign)
}

// ValidUserKey reports whether pub is a public NATS user key.
func ValidUserKey(pub string) error {
	if !strings.HasPrefix(pub, "U") || !nkeys.IsValidPublicUserKey(pub) {
		return fmt.Errorf("%w: %q is not a public NATS user key", ErrInvalidCredentials, pub)
	}
	return nil
}

// LastStageToFirst says whether a, a logged input, is the first stage's
// input that the last stage's primary of a's epoch (changes records
// them; the plan has stages stages) sent after a token it sampled: besides
// the coordinator, the one other producer of the first stage's inputs.
func LastStageToFirst(changes []*tabshardv1.PrimaryChange, stages uint32, a *tabshardv1.Activation) bool {
	if a.GetStage() != 0 || stages == 0 {
		return false
	}
	last, ok := Producer(changes, stages, a.GetEpoch())
	return ok && a.GetProducerWorkerId() == last
}

// Producer is who produced the inputs of stage in epoch, according to the
// cluster's record of primary changes (oldest first): the coordinator for
// stage 0, else the primary of the stage before. ok is false when the
// record does not go back to epoch (it keeps the newest changes only).
func Producer(changes []*tabshardv1.PrimaryChange, stage uint32, epoch uint64) (producer string, ok bool) {
	if stage == 0 {
		return CoordinatorProducer, true
	}
	for _, c := range changes {
		if c.GetStage() == stage-1 && c.GetEpoch() <= epoch {
			producer, ok = c.GetWorkerId(), true
		}
	}
	return producer, ok
}
