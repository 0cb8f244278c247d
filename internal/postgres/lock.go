package postgres

import (
	"github.com/pressly/goose/v3/lock"
)

// mustLocker returns goose's advisory-lock session locker, so that two
// processes migrating the same database at once run one after the other.
func mustLocker() lock.SessionLocker {
	l, err := lock.NewPostgresSessionLocker()
	if err != nil {
		panic(err) // only fails on invalid options, which are constant here
	}
	return l
}
