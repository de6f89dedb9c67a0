package payments_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
)

func TestParsePackages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []payments.Package
		errs []string // substrings of the error, each naming its field
	}{
		{in: "small:100:TWD:150,large:1200:TWD:1500", want: []payments.Package{
			{ID: "small", Points: 100, Price: payments.Money{Currency: "TWD", Minor: 150}},
			{ID: "large", Points: 1200, Price: payments.Money{Currency: "TWD", Minor: 1500}}}},
		{in: "intl:500:USD:4.99, yen:10:JPY:300", want: []payments.Package{
			{ID: "intl", Points: 500, Price: payments.Money{Currency: "USD", Minor: 499}},
			{ID: "yen", Points: 10, Price: payments.Money{Currency: "JPY", Minor: 300}}}},
		{in: "half:1:EUR:0.5", want: []payments.Package{{ID: "half", Points: 1, Price: payments.Money{Currency: "EUR", Minor: 50}}}},
		{in: "", errs: []string{"at least one package"}},
		{in: "small", errs: []string{"packages[0]: \"small\" is not id:points:currency:price"}},
		{in: "Small:0:twd:1.555", errs: []string{"packages[0].id", "packages[0].points", "packages[0].currency", "packages[0].price"}},
		{in: "a:1:TWD:1.5", errs: []string{"packages[0].price", "at most 0 decimals"}},
		{in: "a:1:USD:1.999", errs: []string{"packages[0].price", "at most 2 decimals"}},
		{in: "a:1:USD:0", errs: []string{"packages[0].price"}},
		{in: "a:1:USD:-1", errs: []string{"packages[0].price"}},
		{in: "a:1:TWD:1,a:2:TWD:2", errs: []string{"packages[1].id: \"a\" appears twice"}},
		{in: "a:1:TWD:1,b:x:TWD:2", errs: []string{"packages[1].points"}},
		{in: strings.Repeat("a:1:TWD:1,", 21), errs: []string{"at most 20"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := payments.ParsePackages(tc.in)
			if tc.errs != nil {
				if err == nil || dw.CodeOf(err) != "invalid_packages" {
					t.Fatalf("got %v, %v; want invalid_packages", got, err)
				}
				for _, e := range tc.errs {
					if !strings.Contains(dw.MessageOf(err), e) {
						t.Errorf("error %q lacks %q", dw.MessageOf(err), e)
					}
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("package %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
	if _, err := payments.ParsePackages(payments.DefaultPackages); err != nil {
		t.Errorf("the default packages: %v", err)
	}
}

func TestMoneyMajor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    payments.Money
		want string
	}{
		{payments.Money{Currency: "TWD", Minor: 150}, "150"},
		{payments.Money{Currency: "USD", Minor: 499}, "4.99"},
		{payments.Money{Currency: "USD", Minor: 5}, "0.05"},
		{payments.Money{Currency: "EUR", Minor: 100}, "1.00"},
		{payments.Money{Currency: "KRW", Minor: 1000}, "1000"},
	} {
		if got := tc.m.Major(); got != tc.want {
			t.Errorf("%+v: got %s, want %s", tc.m, got, tc.want)
		}
	}
}

// FuzzParsePackages: any input is either refused as invalid_packages with a message keyed by
// field, or gives packages that satisfy every rule and print back to an equivalent list.
func FuzzParsePackages(f *testing.F) {
	f.Add("small:100:TWD:150,large:1200:TWD:1500")
	f.Add("intl:500:USD:4.99")
	f.Fuzz(func(t *testing.T, s string) {
		pkgs, err := payments.ParsePackages(s)
		if err != nil {
			if dw.KindOf(err) != dw.KindInvalid || dw.CodeOf(err) != "invalid_packages" || !strings.HasPrefix(dw.MessageOf(err), "packages") {
				t.Fatalf("%q: error %v", s, err)
			}
			return
		}
		if len(pkgs) == 0 || len(pkgs) > payments.MaxPackages {
			t.Fatalf("%q: %d packages", s, len(pkgs))
		}
		seen := map[string]bool{}
		for _, p := range pkgs {
			if p.Points <= 0 || p.Points > payments.MaxPoints || p.Price.Minor <= 0 || p.Price.Minor > payments.MaxMinor ||
				len(p.Price.Currency) != 3 || seen[p.ID] || p.ID == "" || len(p.ID) > 32 || !utf8.ValidString(p.ID) {
				t.Fatalf("%q: bad package %+v", s, p)
			}
			seen[p.ID] = true
		}
		again, err := payments.ParsePackages(payments.FormatPackages(pkgs))
		if err != nil || len(again) != len(pkgs) {
			t.Fatalf("%q printed back as %q: %v", s, payments.FormatPackages(pkgs), err)
		}
		for i := range again {
			if again[i] != pkgs[i] {
				t.Fatalf("%q: round trip %+v != %+v", s, again[i], pkgs[i])
			}
		}
	})
}
