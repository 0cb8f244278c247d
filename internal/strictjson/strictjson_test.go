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
		{`{"items":[{"sku":"A","quantity":"one"}]}`, "items[0].quantity"},
		{`{"items":[{"sku":"A","quantity":1},{"sku":"B","quantity":1.5}]}`, "items[1].quantity"},
		{`{"items":[{"sku":"A","quantity":1e40}]}`, "items[0].quantity"},
		{`{"items":{"sku":"A"}}`, "items"},
		{`{"ITEMS":[{"sku":"A","quantity":1}]}`, "ITEMS"},
		{`{"items":[{"SKU":"A","quantity":1}]}`, "items[0].SKU"},
		{`{"Note":"x"}`, "Note"},
		{`"just a string"`, "body"},
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
