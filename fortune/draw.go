package fortune

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	dw "github.com/divinewhispers/dw"
)

// Draw picks one poem of the set uniformly at random, as shaking one stick out of the 籤筒.
// rnd is the source of random bytes; nil means crypto/rand.Reader. The choice is unbiased:
// rejection sampling over 32-bit values, no modulo bias.
//
// Errors: invalid when the set has no poems; internal when rnd fails.
func Draw(set *Set, rnd io.Reader) (Poem, error) {
	if set == nil || len(set.Poems) == 0 {
		return Poem{}, dw.Errorf(dw.KindInvalid, "the set has no poems to draw")
	}
	i, err := uniform(source(rnd), len(set.Poems))
	if err != nil {
		return Poem{}, err
	}
	return set.Poems[i], nil
}

func source(rnd io.Reader) io.Reader {
	if rnd == nil {
		return rand.Reader // read at call time, so that a test can see it is used
	}
	return rnd
}

// maxRejections bounds the rejection loop. A fair source is rejected with probability below
// n/2³² per try, so reaching it means the source is broken (e.g. stuck at all ones).
const maxRejections = 64

// uniform returns a uniform integer in [0, n) for 0 < n ≤ 2³¹.
func uniform(rnd io.Reader, n int) (int, error) {
	// limit is the largest multiple of n that fits in 2³²: values at or above it would make
	// the low residues more likely, so they are thrown away and drawn again.
	limit := (uint64(1) << 32) / uint64(n) * uint64(n)
	var b [4]byte
	for range maxRejections {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return 0, dw.Internal(fmt.Errorf("fortune: reading random bytes: %w", err))
		}
		if v := uint64(binary.BigEndian.Uint32(b[:])); v < limit {
			return int(v % uint64(n)), nil
		}
	}
	return 0, dw.Internal(errors.New("fortune: the random source keeps returning out-of-range values"))
}

// Throw is the outcome of one throw of the two moon blocks (擲筊). Each block lands flat side
// up or round side up with equal chance.
type Throw string

const (
	ShengJiao Throw = "聖筊" // one flat, one round (probability 1/2): yes, the gods agree
	XiaoJiao  Throw = "笑筊" // both flat (1/4): the gods laugh; ask again
	YinJiao   Throw = "陰筊" // both round (1/4): no
)

// ThrowBlocks throws the two moon blocks once; rnd as for Draw (nil is crypto/rand.Reader).
// Each block is one random bit, so the odds are exactly 1/2 聖筊, 1/4 笑筊, 1/4 陰筊.
//
// Errors: internal when rnd fails.
func ThrowBlocks(rnd io.Reader) (Throw, error) {
	var b [1]byte
	if _, err := io.ReadFull(source(rnd), b[:]); err != nil {
		return "", dw.Internal(fmt.Errorf("fortune: reading random bytes: %w", err))
	}
	flat1, flat2 := b[0]&1 == 1, b[0]&2 == 2
	switch {
	case flat1 != flat2:
		return ShengJiao, nil
	case flat1:
		return XiaoJiao, nil
	default:
		return YinJiao, nil
	}
}

// DrawAttempt is one draw of DrawConfirmed: the poem drawn and the throw that followed it.
type DrawAttempt struct {
	Number int   `json:"number"`
	Throw  Throw `json:"throw"`
}

// MaxConfirmDraws bounds the maxDraws of DrawConfirmed.
const MaxConfirmDraws = 100

// ErrNotConfirmed is what DrawConfirmed returns, together with the last poem drawn and every
// attempt, when no throw was a 聖筊 within maxDraws. Its kind is conflict and its code
// "draw_not_confirmed": the draw is complete but the gods did not confirm it. A client may
// show the last poem as unconfirmed, or ask the person to pray and draw again. Test it with
// errors.Is.
var ErrNotConfirmed = dw.Coded(dw.KindConflict, "draw_not_confirmed", "no 聖筊 confirmed a poem within the allowed draws")

// DrawConfirmed follows the temple custom: draw a poem, then throw the moon blocks; a 聖筊
// confirms that the poem is the answer, any other throw sends the person back to draw again.
// It stops at the first 聖筊 or after maxDraws draws (1..MaxConfirmDraws), and returns the
// poem, every attempt in order (for a client to animate), and nil or ErrNotConfirmed. Some
// temples ask for three 聖筊 in a row; this follows the common single-聖筊 custom.
//
// Errors: ErrNotConfirmed (conflict) as above; invalid when the set has no poems or maxDraws
// is out of range; internal when rnd fails.
func DrawConfirmed(set *Set, rnd io.Reader, maxDraws int) (Poem, []DrawAttempt, error) {
	if maxDraws < 1 || maxDraws > MaxConfirmDraws {
		return Poem{}, nil, dw.Errorf(dw.KindInvalid, "maxDraws must be 1 to %d, got %d", MaxConfirmDraws, maxDraws)
	}
	rnd = source(rnd)
	var (
		poem     Poem
		attempts []DrawAttempt
	)
	for range maxDraws {
		var err error
		if poem, err = Draw(set, rnd); err != nil {
			return Poem{}, attempts, err
		}
		t, err := ThrowBlocks(rnd)
		if err != nil {
			return Poem{}, attempts, err
		}
		attempts = append(attempts, DrawAttempt{Number: poem.Number, Throw: t})
		if t == ShengJiao {
			return poem, attempts, nil
		}
	}
	return poem, attempts, ErrNotConfirmed
}
