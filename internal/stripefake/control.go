package stripefake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// serveControl implements the /_fake endpoints (see package doc).
func (f *Fake) serveControl(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		writeResponse(w, jsonResponse(status, map[string]any{"error": map[string]string{"message": msg}}))
	}
	switch p := r.URL.Path; {
	case p == "/_fake/faults" && r.Method == http.MethodGet:
		writeResponse(w, jsonResponse(http.StatusOK, map[string]any{"faults": f.PendingFaults()}))
	case p == "/_fake/faults" && r.Method == http.MethodDelete:
		f.ClearFaults()
		writeResponse(w, jsonResponse(http.StatusOK, map[string]any{"faults": []Fault{}}))
	case p == "/_fake/faults" && r.Method == http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			fail(http.StatusBadRequest, "reading body: "+err.Error())
			return
		}
		var faults []Fault
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
			err = json.Unmarshal(t, &faults)
		} else {
			var one Fault
			err = json.Unmarshal(t, &one)
			faults = []Fault{one}
		}
		if err != nil {
			fail(http.StatusBadRequest, "invalid fault JSON: "+err.Error())
			return
		}
		for _, ft := range faults { // validate all before queueing any
			if err := ft.validate(); err != nil {
				fail(http.StatusBadRequest, err.Error())
				return
			}
		}
		for _, ft := range faults {
			_ = f.InjectFault(ft) // validated above
		}
		writeResponse(w, jsonResponse(http.StatusOK, map[string]any{"faults": f.PendingFaults()}))
	case p == "/_fake/reset" && r.Method == http.MethodPost:
		f.Reset()
		writeResponse(w, jsonResponse(http.StatusOK, map[string]any{"reset": true}))
	case p == "/_fake/requests" && r.Method == http.MethodGet:
		writeResponse(w, jsonResponse(http.StatusOK, map[string]any{"requests": f.Requests()}))
	case p == "/_fake/events" && r.Method == http.MethodGet:
		writeResponse(w, jsonResponse(http.StatusOK, map[string]any{"events": f.Events()}))
	case p == "/_fake/webhook_endpoint" && r.Method == http.MethodGet:
		writeResponse(w, jsonResponse(http.StatusOK, f.webhookEndpointJSON()))
	case p == "/_fake/webhook_endpoint" && r.Method == http.MethodDelete:
		_ = f.SetWebhookEndpoint("", "")
		writeResponse(w, jsonResponse(http.StatusOK, f.webhookEndpointJSON()))
	case p == "/_fake/webhook_endpoint" && r.Method == http.MethodPost:
		var ep webhookEndpointJSON
		if err := decodeJSONBody(r, &ep); err != nil {
			fail(http.StatusBadRequest, "invalid webhook endpoint JSON: "+err.Error())
			return
		}
		if ep.URL == "" {
			fail(http.StatusBadRequest, "url is required (DELETE removes the endpoint)")
			return
		}
		if err := f.SetWebhookEndpoint(ep.URL, ep.Secret); err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		writeResponse(w, jsonResponse(http.StatusOK, f.webhookEndpointJSON()))
	case p == "/_fake/chaos" && r.Method == http.MethodGet:
		writeResponse(w, jsonResponse(http.StatusOK, f.chaosJSON()))
	case p == "/_fake/chaos" && r.Method == http.MethodDelete:
		f.StopChaos()
		writeResponse(w, jsonResponse(http.StatusOK, f.chaosJSON()))
	case p == "/_fake/chaos" && r.Method == http.MethodPost:
		var c Chaos
		if err := decodeJSONBody(r, &c); err != nil {
			fail(http.StatusBadRequest, "invalid chaos JSON: "+err.Error())
			return
		}
		if err := f.SetChaos(c); err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		writeResponse(w, jsonResponse(http.StatusOK, f.chaosJSON()))
	case p == "/_fake/return" && r.Method == http.MethodGet:
		serveReturn(w, r)
	case strings.HasPrefix(p, "/_fake/3ds/") && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		f.serveAuthentication(w, r, strings.TrimPrefix(p, "/_fake/3ds/"))
	case strings.HasPrefix(p, "/_fake/payment_intents/") && strings.HasSuffix(p, "/authenticate") && r.Method == http.MethodPost:
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/_fake/payment_intents/"), "/authenticate")
		result := r.URL.Query().Get("result")
		if result != "" && result != "success" && result != "failure" {
			fail(http.StatusBadRequest, "result must be success or failure")
			return
		}
		if err := f.CompleteAuthentication(id, result != "failure"); err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		pi, _ := f.PaymentIntent(id)
		writeResponse(w, jsonResponse(http.StatusOK, map[string]any{"id": pi.ID, "status": pi.Status}))
	default:
		fail(http.StatusNotFound, "unknown stripefake control endpoint "+r.Method+" "+p)
	}
}

// webhookEndpointJSON is the body of /_fake/webhook_endpoint.
type webhookEndpointJSON struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

func (f *Fake) webhookEndpointJSON() webhookEndpointJSON {
	u, s := f.WebhookEndpoint()
	return webhookEndpointJSON{URL: u, Secret: s}
}

// chaosJSON is the body of GET /_fake/chaos: {"enabled":bool,"chaos":{...}|null}.
func (f *Fake) chaosJSON() map[string]any {
	c, ok := f.ChaosConfig()
	if !ok {
		return map[string]any{"enabled": false, "chaos": nil}
	}
	return map[string]any{"enabled": true, "chaos": c}
}

func decodeJSONBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
