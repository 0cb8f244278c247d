package strictjson_test

import (
	"testing"

	"github.com/checkout-dev/checkout/internal/apperr"
	"github.com/checkout-dev/checkout/internal/strictjson"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	type item struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	type body struct {
		Items []item `json:"items"`
		Note  string `json:"note"`
	}
	cases := []struct {
		in    string
		field string // "" = decodes
	}{
		{`{"items":[{"sku":"A","quantity":1}],"note":"x"}`, ""},
		{`{"items":[{"sku":"A","quantity":"one"}]}`, "items.quantity"},
		{`{"items":[{"sku":"A","quantity":1.5}]}`, "items.quantity"},
		{`{"note":"x","price":1}`, "price"},
		{`{"note":`, "body"},
		{`{"note":"x"} {"note":"y"}`, "body"},
		{`not json`, "body"},
		{``, "body"},
		{`[]`, "body"},
	}
	for _, tc := range cases {
		var b body
		err := strictjson.Decode([]byte(tc.in), &b)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.in, err)
			}
			continue
		}
		ae := apperr.As(err)
		if ae == nil || ae.Kind != apperr.Invalid || ae.Field != tc.field {
			t.Errorf("%s: err = %v; want Invalid naming %q", tc.in, err, tc.field)
		}
	}
}
