package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The spec, loaded once by kin-openapi (a validator nobody here wrote), and
// a router over it.
var spec struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

func specRouter(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	spec.once.Do(func() {
		b, err := os.ReadFile("../../api/openapi.yaml")
		if err != nil {
			spec.err = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			spec.err = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			spec.err = err
			return
		}
		spec.doc = doc
		spec.router, spec.err = legacy.NewRouter(doc)
	})
	if spec.err != nil {
		t.Fatalf("api/openapi.yaml: %v", spec.err)
	}
	return spec.doc, spec.router
}

// validateAgainstSpec checks one real answer of the handler against
// api/openapi.yaml with kin-openapi: the status must be documented for the
// operation, and the headers and body must match its schema. Every
// response the api tests produce through do() passes here. Requests the
// spec has no operation for (an unknown path, a method a path lacks, a CORS
// preflight) have nothing to validate against.
func validateAgainstSpec(t *testing.T, req events.APIGatewayProxyRequest, resp events.APIGatewayProxyResponse) {
	t.Helper()
	_, router := specRouter(t)
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:3000", Path: req.Path}
	q := url.Values{}
	for k, v := range req.QueryStringParameters {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	hreq, err := http.NewRequest(req.HTTPMethod, u.String(), bytes.NewReader([]byte(req.Body)))
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	for k, v := range req.Headers {
		hreq.Header.Set(k, v)
	}
	route, params, err := router.FindRoute(hreq)
	if r, _ := match(req); err != nil || r == nil || route.Method != req.HTTPMethod || route.Path != r.pattern {
		return // kin-openapi's legacy router lets {id} match an empty segment
	}
	in := &openapi3filter.RequestValidationInput{Request: hreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	header := http.Header{}
	for k, v := range resp.Headers {
		header.Set(k, v)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: header,
		Body:    io.NopCloser(bytes.NewReader([]byte(resp.Body))),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s (operation %s %s) answered %d, which api/openapi.yaml does not allow: %v\nbody: %s", req.HTTPMethod, req.Path, route.Method, route.Path, resp.StatusCode, err, resp.Body)
	}
}
