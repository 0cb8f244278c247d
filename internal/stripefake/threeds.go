package stripefake

import (
	"html/template"
	"net/http"
	"net/url"
)

// serveAuthentication is the hosted 3-D Secure page of a PaymentIntent in
// requires_action (the URL of its redirect_to_url next action):
//
//	GET  /_fake/3ds/{pi}                  a page with "complete" and "fail" buttons
//	GET  /_fake/3ds/{pi}?outcome=succeed  completes the authentication (the
//	GET  /_fake/3ds/{pi}?outcome=fail     intent succeeds, or becomes requires_payment_method)
//
// With an outcome, the webhooks are sent as on Stripe and the browser is
// redirected to the confirm's return_url with payment_intent,
// payment_intent_client_secret and redirect_status (as Stripe does); a
// client that does not follow redirects gets the JSON result instead.
func (f *Fake) serveAuthentication(w http.ResponseWriter, r *http.Request, id string) {
	pi, ok := f.PaymentIntent(id)
	if !ok {
		http.Error(w, "no such payment_intent "+id, http.StatusNotFound)
		return
	}
	outcome := r.URL.Query().Get("outcome")
	if outcome == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = authPage.Execute(w, map[string]any{"ID": id, "Status": pi.Status, "Amount": pi.Amount, "Currency": pi.Currency})
		return
	}
	if outcome != "succeed" && outcome != "fail" {
		http.Error(w, "outcome must be succeed or fail", http.StatusBadRequest)
		return
	}
	if err := f.CompleteAuthentication(id, outcome == "succeed"); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	pi, _ = f.PaymentIntent(id)
	f.mu.Lock()
	ret, secret := "", ""
	if p := f.pis[id]; p != nil {
		ret, secret = p.returnURL, p.clientSecret
	}
	f.mu.Unlock()
	status := "succeeded"
	if outcome == "fail" {
		status = "failed"
	}
	if ret != "" {
		if u, err := url.Parse(ret); err == nil {
			q := u.Query()
			q.Set("payment_intent", id)
			q.Set("payment_intent_client_secret", secret)
			q.Set("redirect_status", status)
			u.RawQuery = q.Encode()
			w.Header().Set("Location", u.String())
		}
	}
	code := http.StatusOK
	if w.Header().Get("Location") != "" {
		code = http.StatusSeeOther // a browser goes back to the shop
	}
	writeResponse(w, jsonResponse(code, map[string]any{"id": id, "status": pi.Status, "redirect_status": status,
		"return_url": w.Header().Get("Location")}))
}

// serveReturn is a stand-in for the shop's page the customer comes back to
// after 3-D Secure (a confirm's return_url), for local stacks that have no
// shop: it shows what Stripe appends to the return URL.
//
//	GET /_fake/return?payment_intent=pi_...&redirect_status=succeeded|failed
func serveReturn(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = returnPage.Execute(w, map[string]string{"ID": q.Get("payment_intent"), "Status": q.Get("redirect_status")})
}

var returnPage = template.Must(template.New("return").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Back at the shop (stripefake)</title>
<style>body{font-family:sans-serif;max-width:32em;margin:4em auto}</style></head>
<body><h1>Authentication {{.Status}}</h1>
<p>PaymentIntent <code>{{.ID}}</code>. The checkout goes on by itself: poll
<code>GET /v1/checkouts/{id}</code> for its final status.</p>
</body></html>
`))

var authPage = template.Must(template.New("3ds").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>3-D Secure (stripefake)</title>
<style>body{font-family:sans-serif;max-width:32em;margin:4em auto}a{display:inline-block;margin:1em 1em 0 0;padding:.6em 1.2em;border:1px solid #888;border-radius:4px;text-decoration:none}</style></head>
<body><h1>Authenticate this payment</h1>
<p>PaymentIntent <code>{{.ID}}</code> ({{.Status}}), {{.Amount}} {{.Currency}}.</p>
<p>This is the local Stripe fake's stand-in for the bank's 3-D Secure page.</p>
<a id="succeed" href="?outcome=succeed">Complete authentication</a>
<a id="fail" href="?outcome=fail">Fail authentication</a>
</body></html>
`))
