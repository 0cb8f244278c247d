package stripefake

// testCard is the behaviour of one of Stripe's test PaymentMethods.
type testCard struct {
	brand, last4, funding, country string
	// outcome on confirmation
	declineCode string // error.decline_code when declined
	errCode     string // error.code when declined ("" = succeeds)
	errParam    string
	errMessage  string
	needs3DS    bool // requires_action (authentication) on-session
	// after a successful charge
	refundOutcome string // "" (refunds succeed), refundPending or refundFails
	dispute       bool   // the captured charge is disputed as fraudulent
}

// testCard.refundOutcome values.
const (
	refundPending = "pending" // refunds start pending, then succeed
	refundFails   = "fails"   // refunds start succeeded, then fail
)

const msgDeclined = "Your card was declined."

// testCards are Stripe's documented test PaymentMethod ids
// (https://stripe.com/docs/testing), with their test-mode outcomes.
var testCards = map[string]testCard{
	"pm_card_visa":             {brand: "visa", last4: "4242", funding: "credit", country: "US"},
	"pm_card_visa_debit":       {brand: "visa", last4: "5556", funding: "debit", country: "US"},
	"pm_card_mastercard":       {brand: "mastercard", last4: "4444", funding: "credit", country: "US"},
	"pm_card_mastercard_debit": {brand: "mastercard", last4: "8210", funding: "debit", country: "US"},
	"pm_card_amex":             {brand: "amex", last4: "8431", funding: "credit", country: "US"},
	"pm_card_discover":         {brand: "discover", last4: "1117", funding: "credit", country: "US"},
	"pm_card_jcb":              {brand: "jcb", last4: "0505", funding: "credit", country: "JP"},
	"pm_card_chargeDeclined": {brand: "visa", last4: "0002", funding: "credit", country: "US",
		errCode: "card_declined", declineCode: "generic_decline", errMessage: msgDeclined},
	"pm_card_chargeDeclinedInsufficientFunds": {brand: "visa", last4: "9995", funding: "credit", country: "US",
		errCode: "card_declined", declineCode: "insufficient_funds", errMessage: "Your card has insufficient funds."},
	"pm_card_chargeDeclinedLostCard": {brand: "visa", last4: "9987", funding: "credit", country: "US",
		errCode: "card_declined", declineCode: "lost_card", errMessage: msgDeclined},
	"pm_card_chargeDeclinedStolenCard": {brand: "visa", last4: "9979", funding: "credit", country: "US",
		errCode: "card_declined", declineCode: "stolen_card", errMessage: msgDeclined},
	"pm_card_chargeDeclinedFraudulent": {brand: "visa", last4: "0019", funding: "credit", country: "US",
		errCode: "card_declined", declineCode: "fraudulent", errMessage: msgDeclined},
	"pm_card_chargeDeclinedExpiredCard": {brand: "visa", last4: "0069", funding: "credit", country: "US",
		errCode: "expired_card", declineCode: "expired_card", errParam: "exp_month", errMessage: "Your card has expired."},
	"pm_card_chargeDeclinedIncorrectCvc": {brand: "visa", last4: "0127", funding: "credit", country: "US",
		errCode: "incorrect_cvc", declineCode: "incorrect_cvc", errParam: "cvc", errMessage: "Your card's security code is incorrect."},
	"pm_card_chargeDeclinedProcessingError": {brand: "visa", last4: "0119", funding: "credit", country: "US",
		errCode: "processing_error", declineCode: "processing_error", errMessage: "An error occurred while processing your card. Try again in a little bit."},
	"pm_card_authenticationRequired": {brand: "visa", last4: "3184", funding: "credit", country: "US", needs3DS: true},
	// Stripe's testing docs, "Simulate an asynchronous refund": for
	// pm_card_refundFail (4000000000005126) "the charge succeeds. If you
	// initiate a refund, its status begins as succeeded. Some time later,
	// its status transitions to failed and sends a refund.failed event"
	// (older versions of the page: with failure_reason
	// expired_or_canceled_card); for pm_card_pendingRefund
	// (4000000000007726) "its status begins as pending. Some time later,
	// its status transitions to succeeded and sends a refund.updated event".
	"pm_card_refundFail":    {brand: "visa", last4: "5126", funding: "credit", country: "US", refundOutcome: refundFails},
	"pm_card_pendingRefund": {brand: "visa", last4: "7726", funding: "credit", country: "US", refundOutcome: refundPending},
	// Stripe's testing docs, disputes: pm_card_createDispute
	// (4000000000000259) "with default account settings, charge succeeds,
	// only to be disputed as fraudulent".
	"pm_card_createDispute": {brand: "visa", last4: "0259", funding: "credit", country: "US", dispute: true},
}

// minimumAmounts are Stripe's minimum charge amounts (minor units) for the
// currencies where our tests are likely to hit them; other currencies are
// only required to be >= 1.
var minimumAmounts = map[string]int64{
	"usd": 50, "eur": 50, "gbp": 30, "aud": 50, "cad": 50, "chf": 50, "dkk": 250,
	"hkd": 400, "jpy": 50, "mxn": 1000, "nok": 300, "nzd": 50, "sek": 300, "sgd": 50,
	"brl": 50, "pln": 200, "czk": 1500, "huf": 17500, "inr": 50, "aed": 200,
}

// currencies are the ISO codes stripe-go/v76 knows (lowercase, as Stripe
// accepts and returns them).
var currencies = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range []string{"aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn",
		"bam", "bbd", "bdt", "bgn", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "bzd", "cad", "cdf",
		"chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "egp", "etb", "eur",
		"fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr",
		"ils", "inr", "isk", "jmd", "jpy", "kes", "kgs", "khr", "kmf", "krw", "kyd", "kzt", "lak", "lbp",
		"lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr",
		"mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "pab", "pen", "pgk", "php", "pkr", "pln", "pyg",
		"qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp", "sle", "sos", "srd",
		"szl", "thb", "tjs", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "usd", "uyu", "uzs", "vnd",
		"vuv", "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw"} {
		m[c] = true
	}
	return m
}()
