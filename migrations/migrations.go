// Package migrations embeds the SQL schema so that the Lambdas, the local
// runtime and the tests all apply the very same files.
package migrations

import "embed"

// FS holds every migration, applied in file-name order by goose.
//
//go:embed *.sql
var FS embed.FS
