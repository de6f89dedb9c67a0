package ecpay

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"net/url"
	"sort"
	"strings"
)

// CheckMacValue signs fields the way ECPay's official PHP SDK does (Ecpay\Sdk\Services
// \CheckMacValueService::generate with SHA-256, EncryptType=1):
//
//  1. drop the CheckMacValue field and sort the rest by name, case-insensitively (strcasecmp);
//  2. join them as name=value with &, wrapped as HashKey=<key>&…&HashIV=<iv>;
//  3. PHP urlencode the whole string, lower-case it, then undo .NET's differences
//     (UrlService::ecpayUrlEncode: %2d %5f %2e %21 %2a %28 %29 back to - _ . ! * ( ));
//  4. SHA-256, upper-case hex.
//
// A field with several values is signed with its first; ParseNotification refuses such bodies.
func CheckMacValue(fields url.Values, hashKey, hashIV string) string {
	return checkMac(fields, hashKey, hashIV, sha256.New)
}

// checkMac is CheckMacValue with the hash as a parameter: ECPay's older APIs (and the MD5
// example of its documentation) use MD5 with the same encoding.
func checkMac(fields url.Values, hashKey, hashIV string, h func() hash.Hash) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		if k != "CheckMacValue" {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := asciiLower(names[i]), asciiLower(names[j])
		if a != b {
			return a < b
		}
		return names[i] < names[j] // names equal but for case (none of ECPay's): byte order, to be deterministic
	})
	var b strings.Builder
	b.WriteString("HashKey=")
	b.WriteString(hashKey)
	for _, k := range names {
		b.WriteByte('&')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fields.Get(k))
	}
	b.WriteString("&HashIV=")
	b.WriteString(hashIV)
	d := h()
	d.Write(ecpayURLEncode(b.String()))
	return strings.ToUpper(hex.EncodeToString(d.Sum(nil)))
}

// validMac reports, in constant time, whether given is the CheckMacValue of fields.
// ECPay sends upper-case hex; lower case is accepted as the same value.
func validMac(fields url.Values, given, hashKey, hashIV string) bool {
	want := CheckMacValue(fields, hashKey, hashIV)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToUpper(given))) == 1
}

// ecpayURLEncode is the SDK's UrlService::ecpayUrlEncode in one pass: PHP's urlencode (every
// byte but [A-Za-z0-9_.-] escaped as %XX, space as +, so ~ is %7E unlike Go's QueryEscape),
// then strtolower, then the .NET replacements, which leave ! * ( ) unescaped (- _ . never were).
// FuzzCheckMacValue checks it against those three steps done literally.
func ecpayURLEncode(s string) []byte {
	const hexdig = "0123456789abcdef" // lower case: the SDK lower-cases the whole result
	out := make([]byte, 0, len(s)*3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			out = append(out, c+('a'-'A'))
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			out = append(out, c)
		case c == '-' || c == '_' || c == '.' || c == '!' || c == '*' || c == '(' || c == ')':
			out = append(out, c)
		case c == ' ':
			out = append(out, '+')
		default:
			out = append(out, '%', hexdig[c>>4], hexdig[c&15])
		}
	}
	return out
}

// asciiLower lower-cases A-Z only, as PHP's strcasecmp compares.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
