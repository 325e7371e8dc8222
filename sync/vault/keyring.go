package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Errors returned by Open. Neither carries any part of the sealed data.
var (
	// ErrUnknownKey means the value was sealed with a key the ring no longer has.
	ErrUnknownKey = errors.New("vault: sealed with a key that is not in the key ring")
	// ErrOpen means the ring's key of the value's id did not open it: a different key
	// under the same id (one generated again), or a value altered or of another row.
	ErrOpen = errors.New("vault: cannot open sealed value: the key ring's key of that id is not the one that sealed it (generated again under the same id?), or the value was altered")
)

const formatV1 = 1

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Keyring seals with its first key and opens with any of its keys.
// Safe for concurrent use.
type Keyring struct {
	active string
	keys   map[string]cipher.AEAD
}

// Key is one entry of a ring: an id and 32 bytes of key material.
type Key struct {
	ID       string
	Material []byte
}

// NewKeyring builds a ring; keys[0] seals.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("vault: a key ring needs at least one key")
	}
	k := &Keyring{active: keys[0].ID, keys: make(map[string]cipher.AEAD, len(keys))}
	// Errors name keys by position, never by id: in a ring written key first
	// ("KEY:id") the id is key material.
	for i, key := range keys {
		if !keyIDRE.MatchString(key.ID) {
			return nil, fmt.Errorf("vault: key %d's id must be 1-32 letters, digits, '-' or '_' (want id:base64key)", i+1)
		}
		if _, dup := k.keys[key.ID]; dup {
			return nil, fmt.Errorf("vault: key %d has the same id as an earlier key; ids must be unique", i+1)
		}
		if len(key.Material) != 32 {
			return nil, fmt.Errorf("vault: key %d is %d bytes, want 32 (AES-256; generate one with: openssl rand -base64 32; the ring is written id:base64key)", i+1, len(key.Material))
		}
		block, err := aes.NewCipher(key.Material)
		if err != nil {
			return nil, fmt.Errorf("vault: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("vault: key %d: %w", i+1, err)
		}
		k.keys[key.ID] = aead
	}
	return k, nil
}

// ParseKeyring reads a ring written as "id:base64key,id2:base64key"; the
// first key seals. Errors name the entry and never echo key material.
func ParseKeyring(spec string) (*Keyring, error) {
	var keys []Key
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("entry %d has no ':' between key id and key (want id:base64key)", i+1)
		}
		id = strings.TrimSpace(id)
		// Errors name the entry by position, and its id only when it looks like one: in a
		// ring written key-first the "id" is the key.
		if !keyIDRE.MatchString(id) {
			if m, err := decodeKey(id); err == nil && len(m) == 32 {
				return nil, fmt.Errorf("entry %d is written key first: want id:base64key, the id before the colon", i+1)
			}
			return nil, fmt.Errorf("entry %d: the key id (before the colon) must be 1-32 letters, digits, '-' or '_' (want id:base64key)", i+1)
		}
		material, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("entry %d: the key (after the colon) is not valid base64 (generate one with: openssl rand -base64 32)", i+1)
		}
		keys = append(keys, Key{ID: id, Material: material})
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys (want id:base64key[,id2:base64key…])")
	}
	return NewKeyring(keys...)
}

func decodeKey(b64 string) ([]byte, error) {
	b64 = strings.TrimSpace(b64)
	material, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		material, err = base64.RawStdEncoding.DecodeString(b64)
	}
	return material, err
}

// GenerateKeyring makes a ring of one fresh random key and returns it with
// its spec, for the demo and tests.
func GenerateKeyring(id string) (*Keyring, string, error) {
	material := make([]byte, 32)
	if _, err := rand.Read(material); err != nil {
		return nil, "", fmt.Errorf("vault: generate key: %w", err)
	}
	k, err := NewKeyring(Key{ID: id, Material: material})
	if err != nil {
		return nil, "", err
	}
	return k, id + ":" + base64.StdEncoding.EncodeToString(material), nil
}

// ActiveKeyID is the id of the key that seals.
func (k *Keyring) ActiveKeyID() string { return k.active }

// Seal encrypts plaintext for the row rowID with the active key.
// Layout: version(1) | len(keyID)(1) | keyID | nonce(12) | ciphertext+tag.
func (k *Keyring) Seal(plaintext []byte, rowID string) ([]byte, error) {
	aead := k.keys[k.active]
	header := append([]byte{formatV1, byte(len(k.active))}, k.active...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	out := make([]byte, 0, len(header)+len(nonce)+len(plaintext)+aead.Overhead())
	out = append(append(out, header...), nonce...)
	return aead.Seal(out, nonce, plaintext, aad(header, rowID)), nil
}

// Open decrypts a value sealed for rowID. Returns ErrUnknownKey if its key
// was removed from the ring and ErrOpen if the ring's key of its id does not open
// it (another key under that id, another row, or altered).
func (k *Keyring) Open(sealed []byte, rowID string) ([]byte, error) {
	header, keyID, rest, err := split(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, keyID)
	}
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce, ct := rest[:aead.NonceSize()], rest[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, aad(header, rowID))
	if err != nil {
		return nil, fmt.Errorf("%w (key id %q)", ErrOpen, keyID)
	}
	return pt, nil
}

// SealToken seals a token for the row rowID. An empty token seals to nil, so
// "no token" stays a NULL column rather than a ciphertext of nothing.
func (k *Keyring) SealToken(t Token, rowID string) ([]byte, error) {
	if t.IsZero() {
		return nil, nil
	}
	return k.Seal([]byte(t.v), rowID)
}

// OpenToken opens a token sealed by SealToken; nil opens to the zero Token.
func (k *Keyring) OpenToken(sealed []byte, rowID string) (Token, error) {
	if len(sealed) == 0 {
		return Token{}, nil
	}
	pt, err := k.Open(sealed, rowID)
	if err != nil {
		return Token{}, err
	}
	return Token{v: string(pt)}, nil
}

// NeedsReseal reports whether sealed was made with a key other than the
// active one, so writing the row again should re-seal it.
func (k *Keyring) NeedsReseal(sealed []byte) bool {
	if len(sealed) == 0 {
		return false
	}
	_, keyID, _, err := split(sealed)
	return err != nil || keyID != k.active
}

func split(sealed []byte) (header []byte, keyID string, rest []byte, err error) {
	if len(sealed) < 2 || sealed[0] != formatV1 {
		return nil, "", nil, ErrOpen
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n {
		return nil, "", nil, ErrOpen
	}
	return sealed[:2+n], string(sealed[2 : 2+n]), sealed[2+n:], nil
}

// aad binds the header (so the key id cannot be swapped) and the row id.
func aad(header []byte, rowID string) []byte {
	return append(append(append([]byte{}, header...), 0), rowID...)
}

// KeyID returns the id of the key sealed was made with (sealed values carry it in
// clear). Returns ErrOpen if sealed is not a sealed value.
func KeyID(sealed []byte) (string, error) {
	_, keyID, _, err := split(sealed)
	return keyID, err
}

// Reseal opens sealed (made for rowID with any key of the ring) and seals it again with
// the active key. A value already sealed with the active key, or empty, is returned as it
// is with changed false.
func (k *Keyring) Reseal(sealed []byte, rowID string) (out []byte, changed bool, err error) {
	if !k.NeedsReseal(sealed) {
		return sealed, false, nil
	}
	pt, err := k.Open(sealed, rowID)
	if err != nil {
		return nil, false, err
	}
	out, err = k.Seal(pt, rowID)
	clear(pt)
	return out, err == nil, err
}

// Has reports whether the ring holds a key with id.
func (k *Keyring) Has(id string) bool {
	_, ok := k.keys[id]
	return ok
}

// IDs returns the ids of the ring's keys, sorted.
func (k *Keyring) IDs() []string {
	return slices.Sorted(maps.Keys(k.keys))
}
