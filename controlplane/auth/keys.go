package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/codeint/codeint/controlplane/apperr"
)

// KeyPrefix starts every API key, so a key is recognisable in configs and
// by secret scanners.
const KeyPrefix = "ci_"

// keyRandomLen is the number of random base62 characters after the prefix:
// about 238 bits.
const keyRandomLen = 40

// displayPrefixLen is how much of a key is shown to people and stored in
// APIKey.Prefix: "ci_" and 8 characters.
const displayPrefixLen = 11

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// GenerateKey returns a new secret API key: KeyPrefix and 40 random base62
// characters from crypto/rand.
func GenerateKey() (string, error) {
	var sb strings.Builder
	sb.Grow(len(KeyPrefix) + keyRandomLen)
	sb.WriteString(KeyPrefix)
	buf := make([]byte, 64)
	for sb.Len() < len(KeyPrefix)+keyRandomLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("auth: generate key: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling: 248 = 4×62, so b%62 is uniform below it.
			if b >= 248 {
				continue
			}
			sb.WriteByte(base62[b%62])
			if sb.Len() == len(KeyPrefix)+keyRandomLen {
				break
			}
		}
	}
	return sb.String(), nil
}

// HashKey returns the hex SHA-256 of a secret, the only form in which a key
// is stored. Keys are long and random, so a fast hash is enough.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// DisplayPrefix returns the start of a key that may be shown and stored
// ("ci_AbC12345"): the first 11 characters, or the whole key if shorter.
func DisplayPrefix(secret string) string {
	if len(secret) <= displayPrefixLen {
		return secret
	}
	return secret[:displayPrefixLen]
}

// ParseBearer returns the key of an "Authorization: Bearer <key>" header
// value. Anything else is UNAUTHENTICATED with a sentence saying what is
// wrong.
func ParseBearer(header string) (string, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", apperr.New(apperr.Unauthenticated, `missing API key: send the header "Authorization: Bearer <API key>"`)
	}
	scheme, key, ok := strings.Cut(header, " ")
	if !ok && strings.EqualFold(scheme, "bearer") {
		return "", apperr.New(apperr.Unauthenticated, `the Authorization header has no API key after "Bearer"`)
	}
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", apperr.New(apperr.Unauthenticated, `the Authorization header must be "Bearer <API key>"`)
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return "", apperr.New(apperr.Unauthenticated, `the Authorization header has no API key after "Bearer"`)
	}
	if strings.ContainsAny(key, " \t") {
		return "", apperr.New(apperr.Unauthenticated, "an API key cannot contain spaces")
	}
	return key, nil
}
