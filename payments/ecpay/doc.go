// Package ecpay is the ECPay (綠界) provider of payments: the All-In-One (AIO) hosted checkout,
// its server notification to ReturnURL, QueryTradeInfo for reconciliation and CreditDetail's
// DoAction for refunds. Every message is signed with CheckMacValue, computed exactly as ECPay's
// official PHP SDK computes it (checkmac.go).
//
// No card data reaches us: the browser posts Checkout's form to ECPay and pays there.
//
// Package ecpaytest holds an ECPay-protocol server for tests.
package ecpay
