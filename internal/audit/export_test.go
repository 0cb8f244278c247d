package audit

// HasKeyQuery is HasKey's SQL, for the plan test (plans_test.go).
const HasKeyQuery = hasKeyQuery
