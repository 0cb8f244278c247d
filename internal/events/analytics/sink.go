package analytics

import (
	"context"
	"fmt"
)

// Sink stores batch objects. Implementations: Folder (a local folder) and
// S3 (an S3 bucket).
type Sink interface {
	// Put stores body under key, a slash-separated relative path such as
	// BatchKey returns, replacing any object already stored under that key:
	// putting the same key twice leaves one object, the last body. A nil
	// error means the object is durably stored and complete; readers never
	// see a partial object under key.
	Put(ctx context.Context, key string, body []byte) error
	// String names where objects go, for logs and errors.
	fmt.Stringer
}
