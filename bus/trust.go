//go:build !js

package bus

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// SecretBytes is the size of a cluster secret.
const SecretBytes = 32

// Trust is the NATS operator-mode chain of a tabshard bus: an operator, the
// system account and the cluster's account (JetStream enabled), whose key
// signs every user JWT. DeriveTrust makes the same chain from the same
// cluster secret on every coordinator, so each embedded server trusts what
// any coordinator issues.
type Trust struct {
	operator   nkeys.KeyPair
	system     nkeys.KeyPair
	account    *Account
	operatorJC *jwt.OperatorClaims
	systemJWT  string
	accountJWT string
}

// Labels of the keys derived from a cluster secret (HKDF-SHA256 info).
const (
	labelOperator = "tabshard bus operator v1"
	labelSystem   = "tabshard bus system account v1"
	labelAccount  = "tabshard bus account v1"
)

// DeriveTrust derives the operator, system account and account keys from a
// 32-byte cluster secret (HKDF-SHA256, one label per key) and signs their
// JWTs.
func DeriveTrust(secret []byte) (*Trust, error) {
	if len(secret) != SecretBytes {
		return nil, fmt.Errorf("%w: cluster secret of %d bytes, want %d", ErrInvalidCredentials, len(secret), SecretBytes)
	}
	op, err := deriveKey(secret, labelOperator, nkeys.PrefixByteOperator)
	if err != nil {
		return nil, err
	}
	sys, err := deriveKey(secret, labelSystem, nkeys.PrefixByteAccount)
	if err != nil {
		return nil, err
	}
	acc, err := deriveKey(secret, labelAccount, nkeys.PrefixByteAccount)
	if err != nil {
		return nil, err
	}
	return newTrust(op, sys, acc)
}

func deriveKey(secret []byte, label string, prefix nkeys.PrefixByte) (nkeys.KeyPair, error) {
	raw, err := hkdf.Key(sha256.New, secret, nil, label, 32)
	if err != nil {
		return nil, fmt.Errorf("bus: derive %s: %w", label, err)
	}
	kp, err := nkeys.FromRawSeed(prefix, raw)
	if err != nil {
		return nil, fmt.Errorf("bus: derive %s: %w", label, err)
	}
	return kp, nil
}

func newTrust(op, sys, acc nkeys.KeyPair) (*Trust, error) {
	opPub, _ := op.PublicKey()
	sysPub, _ := sys.PublicKey()
	accPub, _ := acc.PublicKey()
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "tabshard"
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(op)
	if err != nil {
		return nil, fmt.Errorf("bus: operator jwt: %w", err)
	}
	if oc, err = jwt.DecodeOperatorClaims(opJWT); err != nil {
		return nil, fmt.Errorf("bus: operator jwt: %w", err)
	}
	sc := jwt.NewAccountClaims(sysPub)
	sc.Name = "SYS"
	sysJWT, err := sc.Encode(op)
	if err != nil {
		return nil, fmt.Errorf("bus: system account jwt: %w", err)
	}
	ac := jwt.NewAccountClaims(accPub)
	ac.Name = "tabshard"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit, Streams: jwt.NoLimit, Consumer: jwt.NoLimit}
	accJWT, err := ac.Encode(op)
	if err != nil {
		return nil, fmt.Errorf("bus: account jwt: %w", err)
	}
	return &Trust{operator: op, system: sys, account: &Account{kp: acc, pub: accPub}, operatorJC: oc, systemJWT: sysJWT, accountJWT: accJWT}, nil
}

// Account is the key that signs the cluster's user JWTs.
func (t *Trust) Account() *Account { return t.account }

// OperatorJWT is the operator's JWT: what a NATS server trusts
// (operator: in its configuration).
func (t *Trust) OperatorJWT() string {
	return t.operatorJC.String()
}

// Accounts are the public keys and JWTs of the system account and the
// cluster's account: what a server's account resolver must hold.
func (t *Trust) Accounts() map[string]string {
	sysPub, _ := t.system.PublicKey()
	return map[string]string{sysPub: t.systemJWT, t.account.pub: t.accountJWT}
}

// SystemAccount is the system account's public key.
func (t *Trust) SystemAccount() string {
	pub, _ := t.system.PublicKey()
	return pub
}

// Account signs user JWTs for one NATS account: with the embedded server,
// the one DeriveTrust derives; with an external NATS, the account the
// operator created for tabshard (its seed given to the coordinators).
type Account struct {
	kp  nkeys.KeyPair
	pub string
}

// ParseAccountSeed reads an account's seed ("SA...") as an Account.
func ParseAccountSeed(seed []byte) (*Account, error) {
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: account seed: %v", ErrInvalidCredentials, err)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicAccountKey(pub) {
		return nil, fmt.Errorf("%w: the seed is not an account's (public key %q)", ErrInvalidCredentials, pub)
	}
	return &Account{kp: kp, pub: pub}, nil
}

// PublicKey is the account's public key ("A...").
func (a *Account) PublicKey() string { return a.pub }

// Coordinator issues a coordinator's credentials: a fresh user key and a
// JWT with no permission limits and no expiry (the key lives only in the
// coordinator's memory).
func (a *Account) Coordinator(name string) (*Credentials, error) {
	key, err := NewUserKey()
	if err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(key.PublicKey())
	uc.Name = name
	userJWT, err := uc.Encode(a.kp)
	if err != nil {
		return nil, fmt.Errorf("bus: coordinator jwt: %w", err)
	}
	return NewCredentials(key, userJWT), nil
}

// Worker issues worker's user JWT for its public key userKey: the
// permissions of Subjects.WorkerPermissions, until expires.
func (a *Account) Worker(s Subjects, worker, userKey string, expires time.Time) (string, error) {
	if err := ValidUserKey(userKey); err != nil {
		return "", err
	}
	if err := validateName("worker", worker); err != nil {
		return "", err
	}
	perms := s.WorkerPermissions(worker)
	uc := jwt.NewUserClaims(userKey)
	uc.Name = worker
	uc.Pub.Allow.Add(perms.Publish...)
	uc.Sub.Allow.Add(perms.Subscribe...)
	uc.Expires = expires.Unix()
	userJWT, err := uc.Encode(a.kp)
	if err != nil {
		return "", fmt.Errorf("bus: worker jwt: %w", err)
	}
	return userJWT, nil
}

// Seed is the account's seed, for a coordinator's --nats-account-key-file.
func (a *Account) Seed() ([]byte, error) { return a.kp.Seed() }
