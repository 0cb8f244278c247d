// Command await-authentication is the await-authentication step of the checkout saga, as an AWS Lambda.
// Its input and output are the saga state documented in internal/saga.
package main

import "github.com/checkout-dev/checkout/internal/app"

func main() { app.RunStep("await-authentication") }
