package auth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	maxJWKSBytes   = 1 << 20 // a JWKS larger than this is refused
	minRSAKeyBits  = 2048
	maxRSAExponent = 1<<31 - 1
)

// keySet caches the RSA public keys of a JWKS by kid.
//
// Contract: keys are fetched lazily on the first lookup; a cached set is
// trusted for ttl; a lookup of an unknown kid, or of any kid once the set is
// older than ttl, triggers a refetch, but fetch attempts (successful or not)
// are at least minInterval apart, so a flood of tokens with random kids
// costs the identity provider at most one request per interval. Concurrent
// lookups that need a fetch share one request. When a refetch fails, the
// stale keys keep being served.
type keySet struct {
	url         string
	client      *http.Client
	ttl         time.Duration
	minInterval time.Duration
	timeout     time.Duration
	now         func() time.Time

	mu          sync.Mutex
	keys        map[string]*rsa.PublicKey
	fetchedAt   time.Time     // last successful fetch; zero before the first
	attemptedAt time.Time     // last fetch attempt; zero before the first
	lastErr     error         // error of the last attempt, nil when it succeeded
	inflight    chan struct{} // closed when the running fetch ends; nil when none runs
}

func newKeySet(url string, client *http.Client, ttl, minInterval, timeout time.Duration, now func() time.Time) *keySet {
	return &keySet{url: url, client: client, ttl: ttl, minInterval: minInterval, timeout: timeout, now: now}
}

// key returns the public key for kid. An empty kid is accepted only when the
// set holds exactly one key. Errors are *Error with ReasonUnknownKey or
// ReasonKeysUnavailable.
func (ks *keySet) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	fetched := false
	for {
		ks.mu.Lock()
		k, found := ks.lookupLocked(kid)
		fresh := !ks.fetchedAt.IsZero() && ks.now().Sub(ks.fetchedAt) < ks.ttl
		if found && (fresh || fetched) {
			ks.mu.Unlock()
			return k, nil
		}
		if wait := ks.inflight; wait != nil && !fetched {
			// Someone else is fetching: wait for them, then look again.
			ks.mu.Unlock()
			select {
			case <-wait:
				fetched = true
				continue
			case <-ctx.Done():
				return nil, reject(ReasonKeysUnavailable, ctx.Err())
			}
		}
		if fetched || !ks.mayFetchLocked() {
			err := ks.missLocked(kid, found, k)
			ks.mu.Unlock()
			if err == nil {
				return k, nil
			}
			return nil, err
		}
		done := make(chan struct{})
		ks.inflight = done
		ks.attemptedAt = ks.now()
		ks.mu.Unlock()

		keys, err := ks.fetch(ctx)

		ks.mu.Lock()
		if err != nil {
			ks.lastErr = err
		} else {
			ks.keys, ks.fetchedAt, ks.lastErr = keys, ks.now(), nil
		}
		ks.inflight = nil
		close(done)
		ks.mu.Unlock()
		fetched = true
	}
}

// mayFetchLocked reports whether the rate limit allows a fetch now.
func (ks *keySet) mayFetchLocked() bool {
	return ks.attemptedAt.IsZero() || ks.now().Sub(ks.attemptedAt) >= ks.minInterval
}

// missLocked decides the outcome when no (further) fetch is possible: a
// stale key is still served; otherwise the error says why there is none.
func (ks *keySet) missLocked(kid string, found bool, k *rsa.PublicKey) error {
	if found && k != nil {
		return nil // stale but the best we have
	}
	if ks.fetchedAt.IsZero() {
		if ks.lastErr != nil {
			return reject(ReasonKeysUnavailable, ks.lastErr)
		}
		return reject(ReasonKeysUnavailable, errors.New("JWKS not fetched yet"))
	}
	if kid == "" {
		return reject(ReasonUnknownKey, errors.New("token has no kid and the JWKS holds several keys"))
	}
	return reject(ReasonUnknownKey, fmt.Errorf("no JWKS key with kid %q", kid))
}

func (ks *keySet) lookupLocked(kid string) (*rsa.PublicKey, bool) {
	if kid == "" {
		if len(ks.keys) == 1 {
			for _, k := range ks.keys {
				return k, true
			}
		}
		return nil, false
	}
	k, ok := ks.keys[kid]
	return k, ok
}

// fetch downloads and parses the JWKS. Keys that are not RSA signature keys
// usable with RS256 are skipped; a set without any usable key is an error.
func (ks *keySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, ks.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("JWKS fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("JWKS fetch: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("JWKS read: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func parseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("JWKS decode: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	var skipped []string
	for i, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		pub, err := k.rsaPublicKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, k.Kid, err))
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("JWKS has no usable RS256 key: %s", strings.Join(skipped, "; "))
		}
		return nil, errors.New("JWKS has no usable RS256 key")
	}
	return keys, nil
}

func (k jwk) rsaPublicKey() (*rsa.PublicKey, error) {
	n, err := decodeB64URL(k.N)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	e, err := decodeB64URL(k.E)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	mod := new(big.Int).SetBytes(n)
	if mod.BitLen() < minRSAKeyBits {
		return nil, fmt.Errorf("modulus has %d bits, need at least %d", mod.BitLen(), minRSAKeyBits)
	}
	exp := new(big.Int).SetBytes(e)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > maxRSAExponent || exp.Bit(0) == 0 {
		return nil, errors.New("bad exponent")
	}
	return &rsa.PublicKey{N: mod, E: int(exp.Int64())}, nil
}

// decodeB64URL decodes base64url, with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
