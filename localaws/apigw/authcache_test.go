package apigw

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestAuthCacheEvictsExpiredEntries: a flood of rejected tokens does not
// grow the cache past its bound, and expired entries give way to new ones
// while live ones stay.
func TestAuthCacheEvictsExpiredEntries(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	c := newAuthCache(func() time.Time { return now })
	c.put("Jwt", "live", events.APIGatewayCustomAuthorizerResponse{PrincipalID: "alice"}, nil, time.Hour)
	for i := range maxAuthEntries - 1 {
		c.put("Jwt", fmt.Sprintf("bad-%d", i), events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized"), time.Minute)
	}
	if len(c.m) != maxAuthEntries {
		t.Fatalf("%d entries; want %d", len(c.m), maxAuthEntries)
	}
	now = now.Add(2 * time.Minute) // the rejections expire, alice's Allow does not
	c.put("Jwt", "new", events.APIGatewayCustomAuthorizerResponse{PrincipalID: "bob"}, nil, time.Hour)
	if len(c.m) != 2 {
		t.Fatalf("%d entries after the expired ones should have been evicted; want 2", len(c.m))
	}
	if resp, _, ok := c.get("Jwt", "live"); !ok || resp.PrincipalID != "alice" {
		t.Fatal("a live entry was evicted")
	}
	// A flood of live entries never exceeds the bound.
	for i := range 3 * maxAuthEntries {
		c.put("Jwt", fmt.Sprintf("flood-%d", i), events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized"), time.Hour)
		if len(c.m) > maxAuthEntries {
			t.Fatalf("%d entries; the bound is %d", len(c.m), maxAuthEntries)
		}
	}
	// get drops an expired entry.
	now = now.Add(2 * time.Hour)
	if _, _, ok := c.get("Jwt", "live"); ok {
		t.Fatal("an expired entry was served")
	}
	if _, still := c.m["Jwt\x00live"]; still {
		t.Fatal("an expired entry stayed after get")
	}
}
