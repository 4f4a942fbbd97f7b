package dev

import (
	"encoding/json"
	"net/http"
	"regexp"
)

// DemoOrdersToken is the bearer token the demo orders API expects: the
// token of the orders-api Secret of config/samples/order-status.yaml.
const DemoOrdersToken = "Bearer sandbox-orders-token"

var orderNumber = regexp.MustCompile(`^[0-9]{4,10}$`)

// demoOrders is a stand-in for the order API the order-status sample
// calls, served by chatflow dev next to the sandbox at
// GET /demo/orders/{number}, so the sample answers with an order status
// instead of its error branch. The status follows the last digit: 0–3
// shipped (arriving Friday), 4–6 delivered, 7–9 packing. It checks the
// Authorization header the sample sends from its Secret.
func demoOrders() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo/orders/{number}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != DemoOrdersToken {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		n := r.PathValue("number")
		if !orderNumber.MatchString(n) {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "no such order"})
			return
		}
		order := map[string]string{"number": n}
		switch last := n[len(n)-1]; {
		case last <= '3':
			order["status"], order["eta"] = "shipped", "Friday"
		case last <= '6':
			order["status"] = "delivered"
		default:
			order["status"] = "packing"
		}
		_ = json.NewEncoder(w).Encode(order)
	})
	return mux
}
