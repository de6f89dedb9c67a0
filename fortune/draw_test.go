package fortune

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"testing"

	dw "github.com/divinewhispers/dw"
)

// seeded is a deterministic source of random bytes for statistical tests.
func seeded(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return mrand.NewChaCha8(s)
}

// chiSquare is Pearson's statistic of counts against equal expected frequencies.
func chiSquare(counts []int, total int, probs []float64) float64 {
	var x float64
	for i, c := range counts {
		e := float64(total) * probs[i]
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

func TestDrawUniform(t *testing.T) {
	t.Parallel()
	s := liushiJiazi(t)
	const draws = 60_000
	counts := make([]int, 60)
	rnd := seeded(1)
	for range draws {
		p, err := Draw(s, rnd)
		if err != nil {
			t.Fatal(err)
		}
		counts[p.Number-1]++
	}
	probs := make([]float64, 60)
	for i := range probs {
		probs[i] = 1.0 / 60
	}
	// 59 degrees of freedom: the 99.9th percentile of χ² is about 95.8. A fixed seed makes this
	// deterministic; the bound catches any real bias (e.g. modulo bias is far smaller than
	// this could see, which is why the rejection sampling has its own test).
	if x := chiSquare(counts, draws, probs); x > 95.8 {
		t.Errorf("χ² = %.1f over 60 poems, want ≤ 95.8; counts %v", x, counts)
	}
}

// script is a reader that returns the given bytes, then fails.
type script struct{ b []byte }

func (s *script) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func TestDrawRejectsBiasedValues(t *testing.T) {
	t.Parallel()
	s := liushiJiazi(t)
	// 2³² = 71582788·60 + 16: the 16 values from 4294967280 up would favour poems 1..16, so
	// they are drawn again. 0xFFFFFFFF is rejected; 0x0000003C (60) gives poem 1.
	rnd := &script{b: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 61}}
	p, err := Draw(s, rnd)
	if err != nil {
		t.Fatal(err)
	}
	if p.Number != 2 {
		t.Errorf("got poem %d, want 2 (61 mod 60 = 1, after two rejected values)", p.Number)
	}
	// 4294967279 is the largest value kept: 4294967279 mod 60 = 59, poem 60.
	p, err = Draw(s, &script{b: []byte{0xFF, 0xFF, 0xFF, 0xEF}})
	if err != nil || p.Number != 60 {
		t.Errorf("got poem %d, %v; want 60", p.Number, err)
	}
}

func TestDrawBrokenSource(t *testing.T) {
	t.Parallel()
	s := liushiJiazi(t)
	if _, err := Draw(s, &script{}); dw.KindOf(err) != dw.KindInternal {
		t.Errorf("failing reader: got %v, want internal", err)
	}
	if _, err := Draw(s, bytes.NewReader(bytes.Repeat([]byte{0xFF}, 4*maxRejections))); dw.KindOf(err) != dw.KindInternal {
		t.Errorf("reader stuck at all ones: got %v, want internal", err)
	}
	if _, err := Draw(&Set{}, nil); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("empty set: got %v, want invalid", err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestDrawUsesCryptoRand swaps crypto/rand.Reader, so it must not run in parallel with tests
// that draw with a nil source.
func TestDrawUsesCryptoRand(t *testing.T) {
	s := liushiJiazi(t)
	orig := rand.Reader
	c := &countingReader{r: orig}
	rand.Reader = c
	defer func() { rand.Reader = orig }()
	if _, err := Draw(s, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ThrowBlocks(nil); err != nil {
		t.Fatal(err)
	}
	if c.n < 5 {
		t.Fatalf("Draw and ThrowBlocks with a nil source read %d bytes from crypto/rand.Reader, want ≥ 5", c.n)
	}
}

func TestThrowProbabilities(t *testing.T) {
	t.Parallel()
	const throws = 40_000
	rnd := seeded(2)
	counts := map[Throw]int{}
	for range throws {
		th, err := ThrowBlocks(rnd)
		if err != nil {
			t.Fatal(err)
		}
		counts[th]++
	}
	got := []int{counts[ShengJiao], counts[XiaoJiao], counts[YinJiao]}
	if got[0]+got[1]+got[2] != throws {
		t.Fatalf("unknown throws: %v", counts)
	}
	// 2 degrees of freedom: the 99.9th percentile of χ² is 13.8.
	if x := chiSquare(got, throws, []float64{0.5, 0.25, 0.25}); x > 13.8 {
		t.Errorf("χ² = %.1f, want ≤ 13.8; counts 聖筊 %d, 笑筊 %d, 陰筊 %d (expected 20000, 10000, 10000)", x, got[0], got[1], got[2])
	}
}

func TestThrowBlocksExact(t *testing.T) {
	t.Parallel()
	// The low two bits are the two blocks (1 = flat); the other bits do not matter.
	for b, want := range map[byte]Throw{0b00: YinJiao, 0b01: ShengJiao, 0b10: ShengJiao, 0b11: XiaoJiao, 0xFC: YinJiao, 0xFF: XiaoJiao} {
		if got, err := ThrowBlocks(&script{b: []byte{b}}); err != nil || got != want {
			t.Errorf("byte %08b: got %s, %v; want %s", b, got, err, want)
		}
	}
}

func TestDrawConfirmed(t *testing.T) {
	t.Parallel()
	s := liushiJiazi(t)
	draw := func(n uint32, throw byte) []byte {
		return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), throw}
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

	t.Run("confirmed on the third draw", func(t *testing.T) {
		t.Parallel()
		rnd := &script{b: cat(draw(4, 0b11), draw(9, 0b00), draw(30, 0b01))}
		p, attempts, err := DrawConfirmed(s, rnd, 5)
		if err != nil {
			t.Fatal(err)
		}
		want := []DrawAttempt{{5, XiaoJiao}, {10, YinJiao}, {31, ShengJiao}}
		if p.Number != 31 || !equalAttempts(attempts, want) {
			t.Errorf("got poem %d, attempts %v; want 31, %v", p.Number, attempts, want)
		}
	})
	t.Run("not confirmed", func(t *testing.T) {
		t.Parallel()
		rnd := &script{b: cat(draw(0, 0b11), draw(1, 0b00))}
		p, attempts, err := DrawConfirmed(s, rnd, 2)
		if !errors.Is(err, ErrNotConfirmed) || dw.KindOf(err) != dw.KindConflict {
			t.Fatalf("got %v, want ErrNotConfirmed", err)
		}
		if p.Number != 2 || len(attempts) != 2 {
			t.Errorf("got poem %d and %d attempts, want the last poem (2) and both attempts", p.Number, len(attempts))
		}
	})
	t.Run("maxDraws out of range", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{0, -1, MaxConfirmDraws + 1} {
			if _, _, err := DrawConfirmed(s, nil, n); dw.KindOf(err) != dw.KindInvalid {
				t.Errorf("maxDraws %d: got %v, want invalid", n, err)
			}
		}
	})
	t.Run("source fails", func(t *testing.T) {
		t.Parallel()
		_, attempts, err := DrawConfirmed(s, &script{b: draw(0, 0b11)}, 3)
		if dw.KindOf(err) != dw.KindInternal || len(attempts) != 1 {
			t.Errorf("got %v after %d attempts, want internal after 1", err, len(attempts))
		}
	})
	t.Run("attempts until a 聖筊 are geometric", func(t *testing.T) {
		t.Parallel()
		rnd := seeded(3)
		const runs = 10_000
		total := 0
		for range runs {
			_, attempts, err := DrawConfirmed(s, rnd, MaxConfirmDraws)
			if err != nil {
				t.Fatal(err)
			}
			total += len(attempts)
		}
		// A 聖筊 has probability 1/2, so the mean number of draws is 2 (standard error ≈ 0.014).
		if mean := float64(total) / runs; mean < 1.94 || mean > 2.06 {
			t.Errorf("mean draws until confirmed = %.3f, want ≈ 2", mean)
		}
	})
}

func equalAttempts(a, b []DrawAttempt) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
