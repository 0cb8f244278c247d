package stack_test

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRepoTemplateDatabaseSetup: a deploy applies every migration (the
// custom resource's Migrations property is the latest migration, so adding
// one changes it and CloudFormation runs the setup again), and only the
// setup function can use the owner's login; every other function connects
// as the least-privilege role.
func TestRepoTemplateDatabaseSetup(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	tpl := rawRepoTemplate(t)
	files, err := filepath.Glob(filepath.Join(root, "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations (%v)", err)
	}
	latest := 0
	for _, f := range files {
		if m := regexp.MustCompile(`^(\d+)_`).FindStringSubmatch(filepath.Base(f)); m != nil {
			n, _ := strconv.Atoi(m[1])
			latest = max(latest, n)
		}
	}
	v, ok := tpl.Path("Resources", "DatabaseSetup", "Properties", "Migrations")
	if !ok || v.Scalar != strconv.Itoa(latest) {
		t.Errorf("DatabaseSetup.Migrations = %q; want %d, the latest migration (bump it with every new migration)", v.Scalar, latest)
	}
	if st, _ := tpl.Path("Resources", "DatabaseSetup", "Properties", "ServiceToken"); !strings.Contains(st.String(), "MigrateFunction") {
		t.Errorf("DatabaseSetup.ServiceToken = %s; want MigrateFunction's ARN", st.String())
	}
	if g, _ := tpl.Path("Globals", "Function", "Environment", "Variables", "DATABASE_SECRET_ARN"); !strings.Contains(g.String(), "AppDatabaseSecret") {
		t.Errorf("Globals DATABASE_SECRET_ARN = %s; want the application role's secret", g.String())
	}
	resources, _ := tpl.Get("Resources")
	for _, kv := range resources.Map {
		if ty, _ := kv.Value.Get("Type"); ty.Scalar != "AWS::Serverless::Function" {
			continue
		}
		props, _ := kv.Value.Get("Properties")
		uses := strings.Contains(props.String(), "MasterUserSecret") || strings.Contains(props.String(), "ExistingDatabaseSecretArn")
		if uses != (kv.Key == "MigrateFunction") {
			t.Errorf("%s: uses the owner's secret = %v; only MigrateFunction may", kv.Key, uses)
		}
	}
}
