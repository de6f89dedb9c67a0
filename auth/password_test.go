package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// cheapParams keep tests fast; DefaultParams is exercised once.
var cheapParams = Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestArgon2VersionConstant(t *testing.T) {
	if phcVersion != "v=19" || argon2.Version != 0x13 {
		t.Fatalf("phcVersion %q does not match argon2.Version %d", phcVersion, argon2.Version)
	}
}

func TestHashPasswordFormatDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("DefaultParams hashing uses 64 MiB")
	}
	enc, err := HashPassword("correct horse battery staple", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$argon2id$v=19$m=65536,t=2,p=2$"
	if !strings.HasPrefix(enc, prefix) {
		t.Fatalf("encoded = %q, want prefix %q", enc, prefix)
	}
	fields := strings.Split(strings.TrimPrefix(enc, prefix), "$")
	if len(fields) != 2 {
		t.Fatalf("encoded = %q", enc)
	}
	// 16 bytes -> 22 chars, 32 bytes -> 43 chars, no padding.
	if len(fields[0]) != 22 || len(fields[1]) != 43 || strings.ContainsAny(fields[0]+fields[1], "=\n") {
		t.Fatalf("salt/hash encoding lengths %d/%d in %q", len(fields[0]), len(fields[1]), enc)
	}
	ok, err := VerifyPassword("correct horse battery staple", enc)
	if err != nil || !ok {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
	if NeedsRehash(enc, DefaultParams) {
		t.Fatal("NeedsRehash true for hash made with DefaultParams")
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{"password123", "", "ünïcödé pässwörd 🔐", strings.Repeat("x", 1000)} {
		enc, err := HashPassword(pw, cheapParams)
		if err != nil {
			t.Fatalf("HashPassword(%q): %v", pw, err)
		}
		ok, err := VerifyPassword(pw, enc)
		if err != nil || !ok {
			t.Fatalf("VerifyPassword(%q) = %v, %v", pw, ok, err)
		}
		ok, err = VerifyPassword(pw+"!", enc)
		if err != nil || ok {
			t.Fatalf("VerifyPassword(wrong) = %v, %v; want false, nil", ok, err)
		}
	}
}

func TestHashPasswordWrongPassword(t *testing.T) {
	enc, err := HashPassword("hunter22hunter22", cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []string{"", "hunter22hunter2", "Hunter22hunter22", "hunter22hunter22 ", " hunter22hunter22"} {
		ok, err := VerifyPassword(wrong, enc)
		if err != nil {
			t.Errorf("VerifyPassword(%q): unexpected error %v", wrong, err)
		}
		if ok {
			t.Errorf("VerifyPassword(%q) = true", wrong)
		}
	}
}

func TestHashPasswordSalted(t *testing.T) {
	a, err := HashPassword("same password", cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("same password", cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of the same password are identical (salt not random)")
	}
}

// TestVerifyPasswordKnownVector pins the encoding: a hash built directly
// from argon2.IDKey with a fixed salt must verify.
func TestVerifyPasswordKnownVector(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("s3cret-pass"), salt, 1, 64, 1, 32)
	enc := "$argon2id$v=19$m=64,t=1,p=1$" +
		base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(key)
	if enc != encodeHash(cheapParams, salt, key) {
		t.Fatalf("encodeHash mismatch: %q", encodeHash(cheapParams, salt, key))
	}
	ok, err := VerifyPassword("s3cret-pass", enc)
	if err != nil || !ok {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
}

func TestHashPasswordInvalidParams(t *testing.T) {
	tests := map[string]Params{
		"zero":          {},
		"zero time":     {Memory: 64, Time: 0, Threads: 1, KeyLen: 32, SaltLen: 16},
		"zero threads":  {Memory: 64, Time: 1, Threads: 0, KeyLen: 32, SaltLen: 16},
		"memory<8*p":    {Memory: 15, Time: 1, Threads: 2, KeyLen: 32, SaltLen: 16},
		"huge memory":   {Memory: maxMemory + 1, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		"short key":     {Memory: 64, Time: 1, Threads: 1, KeyLen: 8, SaltLen: 16},
		"short salt":    {Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 4},
		"too much time": {Memory: 64, Time: maxTime + 1, Threads: 1, KeyLen: 32, SaltLen: 16},
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := HashPassword("pw", p); !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("err = %v, want ErrInvalidParams", err)
			}
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	hash := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	good := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + hash
	if _, err := VerifyPassword("x", good); err != nil {
		t.Fatalf("baseline rejected: %v", err)
	}
	tests := map[string]string{
		"empty":             "",
		"plain text":        "password",
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":           "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + hash,
		"argon2d":           "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + hash,
		"missing version":   "$argon2id$m=64,t=1,p=1$" + salt + "$" + hash,
		"wrong version":     "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + hash,
		"missing hash":      "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"extra field":       good + "$extra",
		"trailing dollar":   good + "$",
		"params reordered":  "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + hash,
		"params missing":    "$argon2id$v=19$m=64,t=1$" + salt + "$" + hash,
		"params extra":      "$argon2id$v=19$m=64,t=1,p=1,k=2$" + salt + "$" + hash,
		"param not number":  "$argon2id$v=19$m=abc,t=1,p=1$" + salt + "$" + hash,
		"param negative":    "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + hash,
		"param plus sign":   "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + hash,
		"param leading 0":   "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + hash,
		"param empty":       "$argon2id$v=19$m=,t=1,p=1$" + salt + "$" + hash,
		"param space":       "$argon2id$v=19$m=64, t=1,p=1$" + salt + "$" + hash,
		"p overflows u8":    "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + hash,
		"m overflows u32":   "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + hash,
		"m zero":            "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + hash,
		"t zero":            "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + hash,
		"p zero":            "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + hash,
		"m too large":       "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + hash,
		"t too large":       "$argon2id$v=19$m=64,t=4294967295,p=1$" + salt + "$" + hash,
		"salt padded":       "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + hash,
		"salt bad base64":   "$argon2id$v=19$m=64,t=1,p=1$!!notbase64!!$" + hash,
		"salt newline":      "$argon2id$v=19$m=64,t=1,p=1$" + salt[:10] + "\n" + salt[10:] + "$" + hash,
		"hash url alphabet": "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("-", 42) + "A",
		"salt empty":        "$argon2id$v=19$m=64,t=1,p=1$$" + hash,
		"salt too short":    "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString([]byte("1234")) + "$" + hash,
		"hash empty":        "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"hash too short":    "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString([]byte("short")),
		"hash padded":       "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + hash + "=",
		"hash bad base64":   "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + hash[:len(hash)-1] + "*",
		// 32 bytes -> 43 chars; the last char has 2 unused bits that must be zero.
		"hash non-canonical": "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + hash[:len(hash)-1] + "B",
		"leading space":      " " + good,
		"trailing newline":   good + "\n",
	}
	for name, enc := range tests {
		t.Run(name, func(t *testing.T) {
			ok, err := VerifyPassword("x", enc)
			if ok {
				t.Fatal("malformed hash verified")
			}
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("err = %v, want ErrMalformedHash", err)
			}
			if !NeedsRehash(enc, cheapParams) {
				t.Error("NeedsRehash false for malformed hash")
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	enc, err := HashPassword("pw", cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	if NeedsRehash(enc, cheapParams) {
		t.Error("NeedsRehash true for identical params")
	}
	mod := func(f func(*Params)) Params {
		p := cheapParams
		f(&p)
		return p
	}
	for name, p := range map[string]Params{
		"memory":   mod(func(p *Params) { p.Memory *= 2 }),
		"time":     mod(func(p *Params) { p.Time++ }),
		"threads":  mod(func(p *Params) { p.Threads++ }),
		"key len":  mod(func(p *Params) { p.KeyLen = 64 }),
		"salt len": mod(func(p *Params) { p.SaltLen = 32 }),
		"defaults": DefaultParams,
	} {
		if !NeedsRehash(enc, p) {
			t.Errorf("%s: NeedsRehash false after parameter change", name)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		rule string // substring of the error, "" for valid
	}{
		{"empty", "", "at least 8"},
		{"7 chars", "abcdefg", "at least 8"},
		{"8 chars", "abcdefgh", ""},
		{"128 chars", strings.Repeat("a", 128), ""},
		{"129 chars", strings.Repeat("a", 129), "at most 128"},
		{"multibyte counted as runes (8 runes, 16+ bytes)", "ééééééé€", ""},
		{"7 runes but many bytes", "🔐🔐🔐🔐🔐🔐🔐", "at least 8"},
		{"128 emoji", strings.Repeat("🔐", 128), ""},
		{"129 emoji", strings.Repeat("🔐", 129), "at most 128"},
		{"all spaces", "          ", "whitespace"},
		{"mixed whitespace", " \t\n\r \u00a0\u2003  ", "whitespace"},
		{"spaces around text", "   pass word   ", ""},
		{"invalid utf8", "abcdefgh\xff", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.pw)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want error mentioning %q", tt.rule)
			}
			if !errors.Is(err, ErrInvalidPassword) {
				t.Errorf("error %v does not wrap ErrInvalidPassword", err)
			}
			if !strings.Contains(err.Error(), tt.rule) {
				t.Errorf("error %q does not mention %q", err, tt.rule)
			}
		})
	}
}
