package order

// The lookups' SQL, for the plan tests (plans_test.go).
const (
	ByIDQuery        = byIDQuery
	ByCheckoutQuery  = byCheckoutQuery
	ItemsQuery       = itemsQuery
	ListForUserQuery = listForUserQuery
)
