package blocklist

import (
	"context"
	"strings"
	"testing"
)

// parseOrders loads one register text and returns its orders, as they are kept.
func parseOrders(name string, text string, opts Options) ([]Order, RegisterStats, error) {
	r, err := Load(context.Background(), []Source{{Name: name, Reader: strings.NewReader(text)}}, opts)
	if err != nil {
		return nil, RegisterStats{}, err
	}
	var orders []Order
	r.orders(func(o Order) bool {
		orders = append(orders, o)
		return true
	})
	return orders, r.Stats(), nil
}

// mustParse is parseOrders for texts that must load.
func mustParse(t testing.TB, name, text string, opts Options) []Order {
	t.Helper()
	orders, _, err := parseOrders(name, text, opts)
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	return orders
}

// mustRegister loads one CSV register text.
func mustRegister(t testing.TB, csv string, opts Options) *Register {
	t.Helper()
	r, err := Load(context.Background(), []Source{{Name: "orders.csv", Reader: strings.NewReader(csv)}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loadFiles loads register files that must hold orders.
func loadFiles(paths []string, opts Options) (*Register, error) {
	sources := make([]Source, len(paths))
	for i, p := range paths {
		sources[i] = Source{Name: p}
	}
	return Load(context.Background(), sources, opts)
}

// compileOrders writes orders back as a CSV register and loads it: the register's text is
// the only way in.
func compileOrders(t testing.TB, orders []Order, opts Options) (*Register, error) {
	t.Helper()
	return Load(context.Background(), []Source{{Name: "orders.csv", Reader: strings.NewReader(string(writeCSV(t, orders)))}}, opts)
}
