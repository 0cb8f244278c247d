package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"math/bits"
	texttemplate "text/template"

	"github.com/checkout-dev/checkout/internal/events"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	textTmpl = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/confirmation.txt.tmpl"))
	htmlTmpl = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/confirmation.html.tmpl"))
)

// Email is a rendered message ready for a Sender.
type Email struct {
	EventID string
	OrderID string
	UserID  string
	To      string // "" when the user's address is unknown
	From    string
	Subject string
	Text    string
	HTML    string
}

type line struct {
	SKU, Name            string
	Quantity             int
	UnitPrice, LineTotal string
}

type view struct {
	OrderID string
	Lines   []line
	Total   string
}

// Render builds the order confirmation of ev, in plain text and HTML (names
// are escaped in the HTML part). Amounts are formatted by FormatMoney. It
// fails only when a line total overflows int64.
func Render(ev events.OrderEvent, from, to string) (Email, error) {
	o := ev.Order
	v := view{OrderID: o.OrderID, Total: FormatMoney(o.Amount, o.Currency)}
	for _, it := range o.Items {
		hi, lo := bits.Mul64(uint64(it.Quantity), uint64(it.UnitAmount))
		if hi != 0 || lo > 1<<63-1 || it.Quantity < 0 || it.UnitAmount < 0 {
			return Email{}, fmt.Errorf("notify: line %s: amount out of range", it.SKU)
		}
		v.Lines = append(v.Lines, line{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity,
			UnitPrice: FormatMoney(it.UnitAmount, o.Currency), LineTotal: FormatMoney(int64(lo), o.Currency)})
	}
	var txt, html bytes.Buffer
	if err := textTmpl.Execute(&txt, v); err != nil {
		return Email{}, fmt.Errorf("notify: render text: %w", err)
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return Email{}, fmt.Errorf("notify: render html: %w", err)
	}
	short := o.OrderID
	if len(short) > 8 {
		short = short[:8]
	}
	return Email{EventID: ev.EventID, OrderID: o.OrderID, UserID: o.UserID, To: to, From: from,
		Subject: fmt.Sprintf("Your order %s is confirmed (%s)", short, v.Total),
		Text:    txt.String(), HTML: html.String()}, nil
}
