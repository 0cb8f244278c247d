package stripefake

import (
	"net/http"
	"net/url"
	"time"
)

// idemTTL is how long Stripe keeps an idempotency key.
const idemTTL = 24 * time.Hour

// idemEntry is one idempotency key's record.
type idemEntry struct {
	fingerprint string
	method      string
	path        string
	inFlight    bool
	status      int
	body        []byte
	requestID   string // the request that produced the stored response
	created     time.Time
}

func idemMapKey(apiKey, key string) string { return apiKey + "\x00" + key }

// fingerprint identifies "the same request" for idempotency: method, path
// and the parameters in canonical (sorted) order.
func fingerprint(method, path string, vals url.Values) string {
	return method + " " + path + "?" + vals.Encode()
}

// idemBegin looks the key up. It returns exactly one of: a fresh in-flight
// entry the caller now owns (execute, then idemFinish or idemAbandon), a
// stored entry to replay, or an error (params mismatch: 400; in flight:
// 409).
func (f *Fake) idemBegin(apiKey, key, fp string) (fresh, replay *idemEntry, conflict *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mk := idemMapKey(apiKey, key)
	now := f.opts.Now()
	if e, ok := f.idem[mk]; ok && now.Sub(e.created) < idemTTL {
		if e.fingerprint != fp {
			return nil, nil, &apiError{Type: typeIdempotency, status: http.StatusBadRequest, noStore: true,
				Message: "Keys for idempotent requests can only be used with the same parameters they were first used with. " +
					"Try using a key other than '" + key + "' if you meant to execute a different request."}
		}
		if e.inFlight {
			return nil, nil, &apiError{Type: typeIdempotency, Code: "idempotency_key_in_use", DocURL: docURL("idempotency_key_in_use"),
				status: http.StatusConflict, noStore: true,
				Message: "There is currently another in-progress request using this Idempotent Key (that probably means " +
					"you submitted twice, and the other request is still going through): " + key + ". Please try again later."}
		}
		cp := *e
		return nil, &cp, nil
	}
	e := &idemEntry{fingerprint: fp, inFlight: true, created: now}
	e.method, e.path = splitFingerprint(fp)
	f.idem[mk] = e
	return e, nil, nil
}

func splitFingerprint(fp string) (method, path string) {
	for i := 0; i < len(fp); i++ {
		if fp[i] == ' ' {
			method = fp[:i]
			rest := fp[i+1:]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '?' {
					return method, rest[:j]
				}
			}
			return method, rest
		}
	}
	return "", fp
}

// idemFinish stores res for the key, or forgets the key when res must not
// be stored (validation errors), so a corrected retry can run.
func (f *Fake) idemFinish(apiKey, key string, e *idemEntry, res response, reqID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mk := idemMapKey(apiKey, key)
	if f.idem[mk] != e { // Reset() ran meanwhile
		return
	}
	if res.noStore {
		delete(f.idem, mk)
		return
	}
	e.inFlight = false
	e.status = res.status
	e.body = res.body
	e.requestID = reqID
}

// idemAbandon forgets an in-flight key whose request never executed.
func (f *Fake) idemAbandon(apiKey, key string, e *idemEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mk := idemMapKey(apiKey, key)
	if f.idem[mk] == e {
		delete(f.idem, mk)
	}
}
