// Package s3sink is the production sink of the analytics consumer (S3
// objects) and the choice of sink from the environment. It lives apart
// from package analytics so that only the analytics Lambda links the S3
// client.
package s3sink

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PutObjectAPI is the part of *s3.Client the S3 sink uses.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3 is the production Sink: each object is one PutObject to
// s3://Bucket/Prefix/<key> (Prefix "" puts keys at the bucket's root).
// PutObject is atomic (readers see the whole object or none) and replaces
// an existing object under the same key, so a retried batch overwrites its
// first copy. Encryption at rest is the bucket's default encryption.
type S3 struct {
	Client PutObjectAPI
	Bucket string
	Prefix string // without leading or trailing "/"; see NormalizePrefix
}

func (s *S3) String() string { return "s3://" + s.Bucket + "/" + s.Prefix }

// ObjectKey is the S3 key of a sink key: Prefix + "/" + key.
func (s *S3) ObjectKey(key string) string {
	if s.Prefix == "" {
		return key
	}
	return s.Prefix + "/" + key
}

// Put implements Sink with one PutObject (content type
// application/x-ndjson). Errors name the bucket and key.
func (s *S3) Put(ctx context.Context, key string, body []byte) error {
	if key == "" || strings.HasPrefix(key, "/") {
		return fmt.Errorf("s3 sink: invalid key %q", key)
	}
	k := s.ObjectKey(key)
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.Bucket),
		Key:           aws.String(k),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/x-ndjson"),
	})
	if err != nil {
		return fmt.Errorf("s3 sink: put s3://%s/%s: %w", s.Bucket, k, err)
	}
	return nil
}

// NormalizePrefix trims surrounding slashes and spaces from a configured
// prefix ("analytics/", "/analytics" and "analytics" are the same prefix).
func NormalizePrefix(p string) string {
	return strings.Trim(strings.TrimSpace(p), "/")
}
